//! The protocol's derived times (RFC 3768 §6.1, RFC 5798 §6.1), as keepalived computes them.
use crate::wire::vrrp::Version;
use std::time::Duration;

/// Adverts a backup waits for before declaring the master down (keepalived `down_timer_adverts`).
pub const DOWN_TIMER_ADVERTS: u32 = 3;

/// Skew_Time for a local priority.
///
/// v2 ignores the advert interval: (256 - prio) / 256 s. v3 scales it by the master's
/// advert interval: (256 - prio) × interval / 256.
pub fn skew_time(version: Version, priority: u8, master_interval_cs: u16) -> Duration {
    let weight = 256 - u64::from(priority);
    match version {
        Version::V2 => Duration::from_micros(weight * 1_000_000 / 256),
        Version::V3 => Duration::from_micros(weight * u64::from(master_interval_cs) * 10_000 / 256),
    }
}

/// Master_Down_Interval = 3 × Master_Adver_Interval + Skew_Time.
pub fn master_down_interval(version: Version, priority: u8, master_interval_cs: u16) -> Duration {
    interval(master_interval_cs) * DOWN_TIMER_ADVERTS
        + skew_time(version, priority, master_interval_cs)
}

/// A centisecond interval as a `Duration`.
pub fn interval(cs: u16) -> Duration {
    Duration::from_millis(u64::from(cs) * 10)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keepalived_numbers_at_priority_100() {
        // keepalived issue #1686 quotes exactly 3.609375 s for adver 1 s, priority 100.
        assert_eq!(
            skew_time(Version::V2, 100, 100),
            Duration::from_micros(609_375)
        );
        assert_eq!(
            master_down_interval(Version::V2, 100, 100),
            Duration::from_micros(3_609_375)
        );
    }

    #[test]
    fn v2_skew_ignores_interval_v3_scales_it() {
        assert_eq!(skew_time(Version::V2, 128, 200), Duration::from_millis(500));
        assert_eq!(skew_time(Version::V3, 128, 200), Duration::from_secs(1));
        assert_eq!(skew_time(Version::V3, 128, 10), Duration::from_millis(50));
    }

    #[test]
    fn higher_priority_waits_less() {
        let hi = master_down_interval(Version::V2, 254, 100);
        let lo = master_down_interval(Version::V2, 1, 100);
        assert!(hi < lo);
        assert_eq!(hi, Duration::from_micros(3_007_812));
    }
}
