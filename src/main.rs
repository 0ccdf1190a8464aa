use clap::Parser;
use piecewise::cli::{Cli, Command, StatsCommand};
use std::process::ExitCode;

fn main() -> ExitCode {
    // Startup times in the stats count from here.
    piecewise::stats::recorder::process_start();
    piecewise::cli::init_logging();
    let cli = Cli::parse();
    let result = match cli.command {
        Some(Command::Cat(args)) => piecewise::cli::cat::run(args),
        Some(Command::Create(args)) => {
            piecewise::cli::create::run(args).map(|()| ExitCode::SUCCESS)
        }
        Some(Command::Demo(args)) => piecewise::cli::demo::run(args),
        Some(Command::Download(args)) => {
            piecewise::cli::download::run(args).map(|()| ExitCode::SUCCESS)
        }
        Some(Command::Play(args)) => piecewise::cli::play::run(args),
        Some(Command::Seed(args)) => piecewise::cli::seed::run(args).map(|()| ExitCode::SUCCESS),
        Some(Command::Serve(args)) => piecewise::cli::serve::run(args),
        Some(Command::Stats(StatsCommand::Plot(args))) => {
            piecewise::cli::stats_plot::run(args).map(|()| ExitCode::SUCCESS)
        }
        Some(Command::Stats(StatsCommand::Table(args))) => {
            piecewise::cli::stats_table::run(args).map(|()| ExitCode::SUCCESS)
        }
        Some(Command::Stats(StatsCommand::Csv(args))) => {
            piecewise::cli::stats_csv::run(args).map(|()| ExitCode::SUCCESS)
        }
        None => {
            let code = piecewise::application::run(cli.uri, None);
            Ok(code.into())
        }
    };
    result.unwrap_or_else(|error| {
        eprintln!("Error: {}", piecewise::cli::error_line(&error));
        ExitCode::FAILURE
    })
}
