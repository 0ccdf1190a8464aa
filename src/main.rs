use clap::Parser;

fn main() -> anyhow::Result<()> {
    let cli = piecewise::cli::Cli::parse();
    match cli.command {
        Some(command) => match command {
            piecewise::cli::Command::Create(args) => piecewise::cli::create::run(args),
        },
        None => {
            let _ = cli.uri;
            Ok(())
        }
    }
}
