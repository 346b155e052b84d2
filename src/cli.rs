//! Commands and multi-call dispatch.
pub fn main() -> i32 {
    0
}
