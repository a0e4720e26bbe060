use std::process::ExitCode;

fn main() -> ExitCode {
    officina::cli::main()
}
