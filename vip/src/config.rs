//! `vip.toml`: keepalived's `vrrp_instance` / `vrrp_script` concepts under
//! the same names, checked at start so a bad value names its key.

use std::net::{Ipv4Addr, SocketAddr};
use std::path::PathBuf;
use std::time::Duration;

use ferrodfs_runtime::ConfigError;
use serde::Deserialize;

use crate::packet::MAX_ADVER_INT_CS;

/// The file as written.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawConfig {
    pub interface: String,
    pub virtual_router_id: u32,
    pub priority: u32,
    /// Seconds; fractions down to 0.01 (VRRPv3 counts centiseconds).
    #[serde(default = "default_advert_int")]
    pub advert_int: f64,
    pub virtual_ipaddress: Vec<String>,
    #[serde(default)]
    pub nopreempt: bool,
    /// Seconds a higher-priority backup waits before preempting.
    #[serde(default)]
    pub preempt_delay: f64,
    /// Source of our adverts; default: the interface's first IPv4 address.
    pub unicast_src_ip: Option<Ipv4Addr>,
    /// Send adverts to these peers instead of 224.0.0.18.
    #[serde(default)]
    pub unicast_peer: Vec<Ipv4Addr>,
    /// Gratuitous ARPs sent on becoming MASTER.
    #[serde(default = "default_garp_repeat")]
    pub garp_master_repeat: u32,
    /// Gratuitous ARPs a MASTER sends again when it hears a lower-priority
    /// advert: another node claimed MASTER (it took over while this one was
    /// stalled, or the link was cut) and its ARPs moved clients to its MAC;
    /// without these they stay there until their ARP entry expires, several
    /// seconds after that node has stepped down. 0 turns it off. keepalived's
    /// `garp_lower_prio_repeat`.
    #[serde(default = "default_garp_repeat")]
    pub garp_lower_prio_repeat: u32,
    /// Seconds between gratuitous ARPs.
    #[serde(default = "default_garp_interval")]
    pub garp_interval: f64,
    /// Seconds after becoming MASTER before a second burst of
    /// `garp_master_repeat` gratuitous ARPs, for neighbours that missed or
    /// overrode the first (a switch that learned the old master's port
    /// late, a stepping-down node's last ARP). 0: no second burst.
    /// keepalived's `garp_master_delay`.
    #[serde(default = "default_garp_delay")]
    pub garp_master_delay: f64,
    /// The same after a lower-priority advert: seconds before the second
    /// burst of `garp_lower_prio_repeat`. Default: `garp_master_delay`.
    /// keepalived's `garp_lower_prio_delay`.
    pub garp_lower_prio_delay: Option<f64>,
    /// `GET /metrics`; absent: no HTTP endpoint.
    pub metrics_listen: Option<SocketAddr>,
    /// Run as `notify INSTANCE <name> <STATE> <priority>` on every change.
    pub notify: Option<PathBuf>,
    pub notify_master: Option<PathBuf>,
    pub notify_backup: Option<PathBuf>,
    pub notify_fault: Option<PathBuf>,
    /// Real-time round-robin scheduling and memory locked in RAM, so a busy
    /// or swapping host does not stall the daemon past Master_Down_Interval
    /// (keepalived's `vrrp_rt_priority` and `vrrp_no_swap`). Best effort:
    /// refused without CAP_SYS_NICE / CAP_IPC_LOCK, which is logged.
    /// Default: on when running as root.
    pub realtime: Option<bool>,
    /// With `realtime`: the CPU time, in microseconds, a real-time thread
    /// may use without blocking before the kernel stops it (SIGXCPU, then
    /// SIGKILL), so a runaway loop at real-time priority cannot freeze the
    /// host; a supervisor restarts the daemon. 0: no limit. keepalived's
    /// `vrrp_rlimit_rttime`, same default.
    #[serde(default = "default_rlimit_rttime")]
    pub rlimit_rttime: u64,
    /// Name used in logs, metrics and notify arguments.
    #[serde(default = "default_name")]
    pub name: String,
    #[serde(default)]
    pub track: Vec<RawTrack>,
}

/// One `[[track]]` table, keepalived's `vrrp_script`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawTrack {
    pub name: Option<String>,
    /// Built-in probe: healthy on a 2xx answer, e.g. `http://127.0.0.1:88/`.
    pub http: Option<String>,
    /// A command run through `sh -c`; healthy on exit status 0.
    pub script: Option<String>,
    #[serde(default = "default_track_interval")]
    pub interval: f64,
    #[serde(default = "default_track_interval")]
    pub timeout: f64,
    #[serde(default = "one")]
    pub rise: u32,
    #[serde(default = "one")]
    pub fall: u32,
    /// Added to the priority while healthy if > 0, subtracted while failed
    /// if < 0; 0 puts the router in FAULT while failed.
    #[serde(default)]
    pub weight: i32,
}

fn default_advert_int() -> f64 {
    1.0
}
fn default_garp_repeat() -> u32 {
    5
}
fn default_garp_interval() -> f64 {
    0.05
}
fn default_garp_delay() -> f64 {
    5.0
}
fn default_rlimit_rttime() -> u64 {
    10_000
}
fn default_name() -> String {
    "VI_1".into()
}
fn default_track_interval() -> f64 {
    1.0
}
fn one() -> u32 {
    1
}

/// A validated config.
#[derive(Debug, Clone)]
pub struct Config {
    pub name: String,
    pub interface: String,
    pub vrid: u8,
    pub priority: u8,
    pub advert_int_cs: u16,
    pub vips: Vec<(Ipv4Addr, u8)>,
    pub preempt: bool,
    pub preempt_delay: Duration,
    pub src_ip: Option<Ipv4Addr>,
    pub unicast_peers: Vec<Ipv4Addr>,
    pub garp_repeat: u32,
    pub garp_lower_prio_repeat: u32,
    pub garp_interval: Duration,
    /// Second burst after becoming MASTER; None: no second burst.
    pub garp_master_delay: Option<Duration>,
    /// Second burst after a lower-priority advert; None: none.
    pub garp_lower_prio_delay: Option<Duration>,
    pub metrics_listen: Option<SocketAddr>,
    pub notify: Notify,
    pub tracks: Vec<Track>,
    /// None: decided at start (on when running as root).
    pub realtime: Option<bool>,
    /// RLIMIT_RTTIME in microseconds; None: unlimited.
    pub rlimit_rttime: Option<u64>,
}

#[derive(Debug, Clone, Default)]
pub struct Notify {
    pub any: Option<PathBuf>,
    pub master: Option<PathBuf>,
    pub backup: Option<PathBuf>,
    pub fault: Option<PathBuf>,
}

#[derive(Debug, Clone, PartialEq)]
pub enum Probe {
    Http {
        addr: String,
        host: String,
        path: String,
    },
    Script(String),
}

#[derive(Debug, Clone)]
pub struct Track {
    pub name: String,
    pub probe: Probe,
    pub interval: Duration,
    pub timeout: Duration,
    pub rise: u32,
    pub fall: u32,
    pub weight: i32,
}

impl RawConfig {
    pub fn validate(self, file: &str) -> Result<Config, ConfigError> {
        let err = |key: &str, problem: String| ConfigError::new(file, key, problem);
        if self.interface.is_empty() {
            return Err(err("interface", "must name a network interface".into()));
        }
        let vrid = u8::try_from(self.virtual_router_id)
            .ok()
            .filter(|v| *v >= 1)
            .ok_or_else(|| {
                err(
                    "virtual_router_id",
                    format!("{} is not in 1..=255", self.virtual_router_id),
                )
            })?;
        let priority = u8::try_from(self.priority)
            .ok()
            .filter(|v| *v >= 1)
            .ok_or_else(|| {
                err(
                    "priority",
                    format!(
                        "{} is not in 1..=255 (255 only for the address owner)",
                        self.priority
                    ),
                )
            })?;
        let advert_int_cs = seconds_to_cs(self.advert_int)
            .filter(|cs| (1..=MAX_ADVER_INT_CS as u64).contains(cs))
            .ok_or_else(|| {
                err(
                    "advert_int",
                    format!("{} s is not between 0.01 and 40.95", self.advert_int),
                )
            })? as u16;
        if self.virtual_ipaddress.is_empty() || self.virtual_ipaddress.len() > 255 {
            return Err(err(
                "virtual_ipaddress",
                "list 1 to 255 IPv4 addresses, e.g. [\"10.0.0.100/24\"]".into(),
            ));
        }
        let mut vips = Vec::new();
        for (i, s) in self.virtual_ipaddress.iter().enumerate() {
            vips.push(parse_cidr(s).map_err(|p| err(&format!("virtual_ipaddress[{i}]"), p))?);
        }
        let preempt_delay = duration(self.preempt_delay)
            .ok_or_else(|| err("preempt_delay", "must be >= 0 seconds".into()))?;
        let garp_interval = duration(self.garp_interval)
            .ok_or_else(|| err("garp_interval", "must be >= 0 seconds".into()))?;
        let second_burst = |key: &str, s: f64| {
            duration(s)
                .filter(|d| *d <= Duration::from_secs(3600))
                .map(|d| (!d.is_zero()).then_some(d))
                .ok_or_else(|| err(key, format!("{s} s is not between 0 (off) and 3600")))
        };
        let garp_master_delay = second_burst("garp_master_delay", self.garp_master_delay)?;
        let garp_lower_prio_delay = second_burst(
            "garp_lower_prio_delay",
            self.garp_lower_prio_delay.unwrap_or(self.garp_master_delay),
        )?;
        if self.garp_master_repeat == 0 || self.garp_master_repeat > 100 {
            return Err(err("garp_master_repeat", "must be in 1..=100".into()));
        }
        if self.garp_lower_prio_repeat > 100 {
            return Err(err(
                "garp_lower_prio_repeat",
                "must be in 0..=100 (0: off)".into(),
            ));
        }
        let mut tracks = Vec::new();
        for (i, t) in self.track.into_iter().enumerate() {
            tracks.push(t.validate(file, i)?);
        }
        Ok(Config {
            name: self.name,
            interface: self.interface,
            vrid,
            priority,
            advert_int_cs,
            vips,
            preempt: !self.nopreempt,
            preempt_delay,
            src_ip: self.unicast_src_ip,
            unicast_peers: self.unicast_peer,
            garp_repeat: self.garp_master_repeat,
            garp_lower_prio_repeat: self.garp_lower_prio_repeat,
            garp_interval,
            garp_master_delay,
            garp_lower_prio_delay,
            metrics_listen: self.metrics_listen,
            notify: Notify {
                any: self.notify,
                master: self.notify_master,
                backup: self.notify_backup,
                fault: self.notify_fault,
            },
            tracks,
            realtime: self.realtime,
            rlimit_rttime: (self.rlimit_rttime > 0).then_some(self.rlimit_rttime),
        })
    }
}

impl RawTrack {
    fn validate(self, file: &str, i: usize) -> Result<Track, ConfigError> {
        let err = |key: &str, problem: String| {
            ConfigError::new(file, format!("track[{i}].{key}"), problem)
        };
        let probe = match (self.http, self.script) {
            (Some(url), None) => parse_http_url(&url).map_err(|p| err("http", p))?,
            (None, Some(cmd)) if !cmd.trim().is_empty() => Probe::Script(cmd),
            (None, Some(_)) => return Err(err("script", "is empty".into())),
            _ => {
                return Err(err(
                    "http",
                    "set exactly one of `http` (URL to probe) or `script` (command)".into(),
                ))
            }
        };
        let interval = duration(self.interval)
            .filter(|d| !d.is_zero())
            .ok_or_else(|| err("interval", "must be > 0 seconds".into()))?;
        let timeout = duration(self.timeout)
            .filter(|d| !d.is_zero())
            .ok_or_else(|| err("timeout", "must be > 0 seconds".into()))?;
        if self.rise == 0 {
            return Err(err("rise", "must be >= 1".into()));
        }
        if self.fall == 0 {
            return Err(err("fall", "must be >= 1".into()));
        }
        if !(-253..=253).contains(&self.weight) {
            return Err(err(
                "weight",
                format!("{} is not in -253..=253", self.weight),
            ));
        }
        Ok(Track {
            name: self.name.unwrap_or_else(|| format!("track{i}")),
            probe,
            interval,
            timeout,
            rise: self.rise,
            fall: self.fall,
            weight: self.weight,
        })
    }
}

fn seconds_to_cs(s: f64) -> Option<u64> {
    (s.is_finite() && s > 0.0).then(|| (s * 100.0).round() as u64)
}

fn duration(s: f64) -> Option<Duration> {
    (s.is_finite() && s >= 0.0).then(|| Duration::from_secs_f64(s))
}

/// `10.0.0.100` (a /32, like keepalived) or `10.0.0.100/24`.
pub fn parse_cidr(s: &str) -> Result<(Ipv4Addr, u8), String> {
    let (ip, len) = match s.split_once('/') {
        Some((ip, len)) => (ip, Some(len)),
        None => (s, None),
    };
    let ip: Ipv4Addr = ip
        .trim()
        .parse()
        .map_err(|_| format!("{s:?} is not an IPv4 address like \"10.0.0.100/24\""))?;
    let len = match len {
        None => 32,
        Some(l) => l
            .trim()
            .parse::<u8>()
            .ok()
            .filter(|l| *l <= 32)
            .ok_or_else(|| format!("{s:?}: prefix length must be 0..=32"))?,
    };
    Ok((ip, len))
}

/// `http://host:port/path` (plain HTTP only: the probe targets the local lb).
pub fn parse_http_url(url: &str) -> Result<Probe, String> {
    let rest = url
        .strip_prefix("http://")
        .ok_or_else(|| format!("{url:?}: only http:// URLs are probed"))?;
    let (authority, path) = match rest.find('/') {
        Some(i) => (&rest[..i], &rest[i..]),
        None => (rest, "/"),
    };
    if authority.is_empty() {
        return Err(format!("{url:?}: missing host"));
    }
    let addr = if authority.contains(':') {
        authority.to_string()
    } else {
        format!("{authority}:80")
    };
    Ok(Probe::Http {
        addr,
        host: authority.to_string(),
        path: path.to_string(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> Result<Config, String> {
        let raw: RawConfig =
            ferrodfs_runtime::config::parse_toml("vip.toml", text).map_err(|e| e.to_string())?;
        raw.validate("vip.toml").map_err(|e| e.to_string())
    }

    const MINIMAL: &str = r#"
interface = "eth0"
virtual_router_id = 51
priority = 100
virtual_ipaddress = ["10.0.0.100/24"]
"#;

    #[test]
    fn minimal_config_gets_keepalived_defaults() {
        let c = parse(MINIMAL).unwrap();
        assert_eq!(c.vrid, 51);
        assert_eq!(c.advert_int_cs, 100);
        assert!(c.preempt);
        assert_eq!(c.vips, vec![(Ipv4Addr::new(10, 0, 0, 100), 24)]);
        assert!(c.unicast_peers.is_empty());
        assert_eq!((c.garp_repeat, c.garp_lower_prio_repeat), (5, 5));
        assert_eq!(c.realtime, None, "decided at start: on when root");
        assert_eq!(c.garp_master_delay, Some(Duration::from_secs(5)));
        assert_eq!(c.garp_lower_prio_delay, Some(Duration::from_secs(5)));
        assert_eq!(c.rlimit_rttime, Some(10_000));
    }

    #[test]
    fn second_garp_bursts_follow_the_master_delay_unless_set_apart() {
        let c = parse(&format!(
            "{MINIMAL}garp_master_delay = 0
"
        ))
        .unwrap();
        assert_eq!((c.garp_master_delay, c.garp_lower_prio_delay), (None, None));
        let c = parse(&format!(
            "{MINIMAL}garp_master_delay = 2\ngarp_lower_prio_delay = 0.5\n"
        ))
        .unwrap();
        assert_eq!(c.garp_master_delay, Some(Duration::from_secs(2)));
        assert_eq!(c.garp_lower_prio_delay, Some(Duration::from_millis(500)));
        for key in ["garp_master_delay", "garp_lower_prio_delay"] {
            let e = parse(&format!("{MINIMAL}{key} = -1\n")).unwrap_err();
            assert!(e.contains(key), "{e}");
        }
        let c = parse(&format!("{MINIMAL}rlimit_rttime = 0\n")).unwrap();
        assert_eq!(c.rlimit_rttime, None, "0: unlimited");
    }

    #[test]
    fn garp_lower_prio_repeat_can_be_turned_off_but_not_flood() {
        let c = parse(&format!("{MINIMAL}garp_lower_prio_repeat = 0\n")).unwrap();
        assert_eq!(c.garp_lower_prio_repeat, 0);
        let e = parse(&format!("{MINIMAL}garp_lower_prio_repeat = 1000\n")).unwrap_err();
        assert!(e.contains("garp_lower_prio_repeat"), "{e}");
    }

    #[test]
    fn fractional_advert_int_is_centiseconds() {
        let c = parse(&format!("{MINIMAL}advert_int = 0.1\n")).unwrap();
        assert_eq!(c.advert_int_cs, 10);
    }

    #[test]
    fn out_of_range_values_name_their_key() {
        for (extra, key) in [
            ("advert_int = 0.001\n", "advert_int"),
            ("advert_int = 50\n", "advert_int"),
            ("preempt_delay = -1\n", "preempt_delay"),
        ] {
            let e = parse(&format!("{MINIMAL}{extra}")).unwrap_err();
            assert!(e.contains(key), "{e}");
        }
        let e = parse(&MINIMAL.replace("51", "256")).unwrap_err();
        assert!(e.contains("virtual_router_id"), "{e}");
        let e = parse(&MINIMAL.replace("100\n", "0\n")).unwrap_err();
        assert!(e.contains("priority"), "{e}");
        let e = parse(&MINIMAL.replace("10.0.0.100/24", "10.0.0.300")).unwrap_err();
        assert!(e.contains("virtual_ipaddress[0]"), "{e}");
    }

    #[test]
    fn unknown_key_is_rejected() {
        let e = parse(&format!("{MINIMAL}advert_intt = 1\n")).unwrap_err();
        assert!(e.contains("advert_intt"), "{e}");
    }

    #[test]
    fn track_needs_exactly_one_probe() {
        let e = parse(&format!("{MINIMAL}[[track]]\nweight = -20\n")).unwrap_err();
        assert!(e.contains("track[0].http"), "{e}");
        let both = format!("{MINIMAL}[[track]]\nhttp = \"http://x:1/\"\nscript = \"true\"\n");
        assert!(parse(&both).is_err());
    }

    #[test]
    fn track_with_http_probe_parses() {
        let c = parse(&format!(
            "{MINIMAL}[[track]]\nname = \"lb\"\nhttp = \"http://127.0.0.1:88/healthz\"\nfall = 2\nrise = 3\nweight = -60\n"
        ))
        .unwrap();
        let t = &c.tracks[0];
        assert_eq!(
            t.probe,
            Probe::Http {
                addr: "127.0.0.1:88".into(),
                host: "127.0.0.1:88".into(),
                path: "/healthz".into()
            }
        );
        assert_eq!((t.fall, t.rise, t.weight), (2, 3, -60));
    }

    #[test]
    fn track_weight_out_of_range_is_rejected() {
        let e = parse(&format!(
            "{MINIMAL}[[track]]\nscript = \"true\"\nweight = 300\n"
        ))
        .unwrap_err();
        assert!(e.contains("track[0].weight"), "{e}");
    }

    #[test]
    fn shipped_example_config_is_valid() {
        let c = parse(include_str!("../vip.example.toml")).unwrap();
        assert_eq!(c.advert_int_cs, 10);
        assert_eq!(c.tracks[0].weight, -60);
    }

    #[test]
    fn cidr_without_prefix_is_a_host_address() {
        assert_eq!(
            parse_cidr("192.168.1.9"),
            Ok((Ipv4Addr::new(192, 168, 1, 9), 32))
        );
        assert!(parse_cidr("192.168.1.9/33").is_err());
    }
}
