//! Data over MQTT: MQTTSpec's protocol, served on the broker of an `MQTTClient` with
//! `specPrefix`. Devices and apps publish JSON requests to `<prefix>/{client_id}/request` and
//! get their answers on `<prefix>/{client_id}/response`: create, read (one, or many with
//! filters, sort, paging and totals), update, delete and `meta`, on the client's tenant's
//! objects, with the checks the REST API makes; `subscribe` starts a live feed of a type's
//! changes matching filters ([`subscriptions`]).
//!
//! [`Requests`] stands in front of the dispatcher as the brokers' `Inbound`: it adds the
//! request filter to such clients, answers what arrives there, and hands every other message
//! on. The envelope is in [`envelope`], what each operation does in [`operations`].

pub mod envelope;
pub mod operations;
mod requests;
pub mod subscriptions;

pub use requests::Requests;
