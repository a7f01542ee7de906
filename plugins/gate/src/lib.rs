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

wit_bindgen::generate!({
    path: "../../wit",
    world: "broker-hooks",
});

use exports::switchyard::plugin::hooks::{Authentication, Authorization, Device, Guest};
use switchyard::plugin::logging::{Level, log};

struct Gate;

impl Guest for Gate {
    fn authenticate(device: Device, _password: Vec<u8>) -> Result<Authentication, String> {
        log(Level::Info, &format!("{} connects", device.username));
        Ok(match device.username.as_str() {
            "intruder" => Authentication::Deny,
            "root" => Authentication::Superuser,
            "guest" => Authentication::Allow,
            "trapper" => panic!("the gate traps for {}", device.client_id),
            _ => Authentication::Ignore,
        })
    }

    fn authorize_subscribe(_device: Device, filter: String, _qos: u8) -> Result<Authorization, String> {
        Ok(match filter.split('/').next() {
            Some("secret") => Authorization::Deny,
            Some("slow") => Authorization::MaxQos(0),
            Some("open") => Authorization::Allow,
            _ => Authorization::Ignore,
        })
    }

    fn authorize_publish(_device: Device, topic: String, _qos: u8) -> Result<Authorization, String> {
        Ok(match topic.split('/').next() {
            Some("forbidden") => Authorization::Deny,
            Some("open") => Authorization::Allow,
            Some("trap") => panic!("the gate traps on {topic}"),
            _ => Authorization::Ignore,
        })
    }
}

export!(Gate);
