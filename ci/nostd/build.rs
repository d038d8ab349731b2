//! The entry point for the linker: the program defines `Reset` and has no
//! vector table or linker script (it is a link check).
fn main() {
    println!("cargo:rustc-link-arg-bins=--entry=Reset");
}
