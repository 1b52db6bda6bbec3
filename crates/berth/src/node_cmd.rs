//! The node agent's commands: `berth image run NAME` (a built-in image's program, run inside a
//! container). Kept apart from the control-plane wiring in `main.rs`.

use clap::Subcommand;

#[derive(Subcommand)]
pub enum NodeCommand {
    /// Built-in images.
    #[command(hide = true, subcommand)]
    Image(ImageCommand),
}

#[derive(Subcommand)]
pub enum ImageCommand {
    /// Run a built-in image's program in the foreground (what a container of that image runs).
    Run {
        /// Image reference, e.g. `luksa/kubia-pet` or `docker.io/luksa/kubia-pet:latest`.
        image: String,
    },
}

/// Run a node command; these own the process (no tokio runtime of `main`'s).
pub fn run(cmd: NodeCommand) -> Result<(), String> {
    match cmd {
        NodeCommand::Image(ImageCommand::Run { image }) => berth_images::run(&image),
    }
}
