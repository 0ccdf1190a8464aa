use clap::Parser;

fn main() -> anyhow::Result<()> {
    let cli = piecewise::cli::Cli::parse();
    match cli.command {
        Some(command) => match command {},
        None => {
            let _ = cli.uri;
            Ok(())
        }
    }
}
