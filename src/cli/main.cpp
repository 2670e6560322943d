#include <CLI/CLI.hpp>

int main(int argc, char** argv) {
    CLI::App app{"cloakroom: a credential gateway for AI agents"};
    app.require_subcommand(1);
    app.add_subcommand("version", "Print the version")->callback([] {
        std::puts(CLOAKROOM_VERSION);
    });
    CLI11_PARSE(app, argc, argv);
    return 0;
}
