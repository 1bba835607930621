//! `image-backup`: copy images, print backup names, run the controller.
fn main() {}
