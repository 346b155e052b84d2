//! Least privilege: the daemon needs CAP_NET_ADMIN (addresses) and CAP_NET_RAW (raw VRRP
//! and packet sockets), nothing more. Checked at start so a missing one is named at once
//! instead of surfacing as an EPERM from some socket call.
use std::io;

/// Bit numbers from linux/capability.h (libc does not export them).
const CAP_NET_ADMIN: u32 = 12;
const CAP_NET_RAW: u32 = 13;

/// Capabilities the daemon cannot run without, by their names without `CAP_`.
pub const REQUIRED: [(u32, &str); 2] = [(CAP_NET_ADMIN, "NET_ADMIN"), (CAP_NET_RAW, "NET_RAW")];

/// `_LINUX_CAPABILITY_VERSION_3`: two 32-bit words per set.
const VERSION_3: u32 = 0x2008_0522;

#[repr(C)]
struct Header {
    version: u32,
    pid: i32,
}

#[repr(C)]
#[derive(Clone, Copy, Default)]
struct Data {
    effective: u32,
    permitted: u32,
    inheritable: u32,
}

/// The effective capability set of this process as a 64-bit mask.
pub fn effective() -> io::Result<u64> {
    let mut header = Header {
        version: VERSION_3,
        pid: 0,
    };
    let mut data = [Data::default(); 2];
    // SAFETY: capget with a v3 header writes exactly two Data structs.
    let rc = unsafe {
        libc::syscall(
            libc::SYS_capget,
            &mut header as *mut Header,
            data.as_mut_ptr(),
        )
    };
    if rc != 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(u64::from(data[0].effective) | (u64::from(data[1].effective) << 32))
}

/// The names of the required capabilities missing from `mask`.
pub fn missing(mask: u64) -> Vec<&'static str> {
    REQUIRED
        .iter()
        .filter(|(bit, _)| mask & (1u64 << bit) == 0)
        .map(|(_, name)| *name)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_what_is_missing() {
        let admin = 1u64 << CAP_NET_ADMIN;
        let raw = 1u64 << CAP_NET_RAW;
        assert_eq!(missing(admin | raw), Vec::<&str>::new());
        assert_eq!(missing(admin), vec!["NET_RAW"]);
        assert_eq!(missing(0), vec!["NET_ADMIN", "NET_RAW"]);
    }

    #[test]
    fn reads_our_own_set() {
        // Whatever we run as, the call itself must work.
        assert!(effective().is_ok());
    }
}
