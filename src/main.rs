fn main() -> std::process::ExitCode {
    llm_router_lsp::cli::main()
}
