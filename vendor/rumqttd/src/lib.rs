//! rumqttd 0.20.0, cut down to its MQTT 3.1.1 and 5 packet codec for Switchyard's embedded
//! broker (see SWITCHYARD.md).

pub mod protocol;
