//! Test fixture: a plain WASI command. It is a real component, but it exports `wasi:cli/run`
//! instead of the `switchyard:plugin` handler, so the server must refuse it on upload.

fn main() {
    println!("I am not a Switchyard plugin");
}
