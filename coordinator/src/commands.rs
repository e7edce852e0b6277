//! One module per subcommand: argument structs and the glue that calls the library.

pub mod check_config;
pub mod client;
pub mod generate;
pub mod plan;
pub mod render;
pub mod serve;
pub mod status;
pub mod tags;
pub mod wait;
