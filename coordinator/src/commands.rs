//! One module per subcommand: argument structs and the glue that calls the library.

pub mod check_config;
pub mod generate;
pub mod plan;
pub mod render;
pub mod serve;
pub mod tags;
