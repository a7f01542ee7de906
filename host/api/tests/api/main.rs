//! The REST API over a real Switchyard put together by the composition root (a store in a
//! temporary directory, the runtime, the plugins, the brokers), driven through the router
//! without a socket.

mod auth;
mod clients;
mod common;
mod indexes;
mod objects;
mod openapi;
mod plugins;
mod ui;
