//! Test fixture, not an example: a plugin of the `broker-hooks` world (`wit/plugin.wit`), so
//! the device tests can check every decision a hook can make, and that one that traps denies.
//!
//! | asked | decides |
//! |---|---|
//! | connect as `intruder` | deny |
//! | connect as `root` | superuser |
//! | connect as `guest` | allow (no `MQTTDevice` has that name: the default tenant, no topics of its own) |
//! | connect as `trapper` | traps |
//! | connect as anyone else | ignore (the `MQTTDevice` objects decide) |
//! | subscribe to `secret/...` | deny |
//! | subscribe to `slow/...` | allow, at QoS 0 at most |
//! | subscribe to `open/...` | allow |
//! | publish to `forbidden/...` | deny |
//! | publish to `open/...` | allow |
//! | publish to `trap/...` | traps |
//! | anything else | ignore |

use switchyard_sdk::hooks::{Authentication, Authorization, Device, Hooks, log};

struct Gate;

impl Hooks for Gate {
    fn authenticate(device: &Device, _password: &[u8]) -> Result<Authentication, String> {
        log::info(format!("{} connects", device.username));
        Ok(match device.username.as_str() {
            "intruder" => Authentication::Deny,
            "root" => Authentication::Superuser,
            "guest" => Authentication::Allow,
            "trapper" => panic!("the gate traps for {}", device.client_id),
            _ => Authentication::Ignore,
        })
    }

    fn authorize_subscribe(_: &Device, filter: &str, _qos: u8) -> Result<Authorization, String> {
        Ok(match filter.split('/').next() {
            Some("secret") => Authorization::Deny,
            Some("slow") => Authorization::MaxQos(0),
            Some("open") => Authorization::Allow,
            _ => Authorization::Ignore,
        })
    }

    fn authorize_publish(_: &Device, topic: &str, _qos: u8) -> Result<Authorization, String> {
        Ok(match topic.split('/').next() {
            Some("forbidden") => Authorization::Deny,
            Some("open") => Authorization::Allow,
            Some("trap") => panic!("the gate traps on {topic}"),
            _ => Authorization::Ignore,
        })
    }
}

switchyard_sdk::hooks!(Gate);
