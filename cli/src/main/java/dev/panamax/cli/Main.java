package dev.panamax.cli;

import java.io.PrintWriter;
import picocli.CommandLine;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;
import picocli.CommandLine.ScopeType;

/** The {@code panamax} command line. Commands and their outputs follow the contract in DESIGN.md. */
@Command(name = "panamax", mixinStandardHelpOptions = true, versionProvider = Main.Version.class,
        description = "LLM inference on CPU from the JVM.",
        subcommands = {InfoCommand.class, MicrobenchCommand.class, GenerateCommand.class, ChatCommand.class, LogitsCommand.class, QuantizeCommand.class, ConvertCommand.class, PerplexityCommand.class, ImatrixCommand.class, PruneCommand.class,
                TokenizeCommand.class, EmbedCommand.class, BenchCommand.class, DemoCommand.class, CommandLine.HelpCommand.class},
        footer = {"", "Commands of their own modules, run by the ./panamax launcher (see their --help):",
                "  serve       the OpenAI-compatible HTTP server (panamax-server)",
                "  run-batch   OpenAI Batch API files (-m M.gguf -i IN.jsonl -o OUT.jsonl [--master ...]) on Spark (panamax-spark)",
                "", "Development commands handled by the ./panamax launcher itself:",
                "  build   build the native library and the jar (Maven + CMake)",
                "  test    run every test: Java, native ctest (x86-64), aarch64 ctest under qemu"})
public final class Main implements Runnable {

    @Option(names = {"-v", "--verbose"}, scope = ScopeType.INHERIT,
            description = "More log output on stderr (-v info, -vv debug).")
    boolean[] verbose;

    @CommandLine.Spec
    CommandLine.Model.CommandSpec spec;

    @Override
    public void run() {
        throw new CommandLine.ParameterException(spec.commandLine(), "missing command (see ./panamax --help)");
    }

    public static void main(String[] args) {
        configureLogging(args);
        System.exit(run(args, new PrintWriter(System.out, true), new PrintWriter(System.err, true)));
    }

    /** Runs the CLI and returns its exit code (for tests). */
    public static int run(String[] args, PrintWriter out, PrintWriter err) {
        CommandLine cli = new CommandLine(new Main());
        cli.setOut(out);
        cli.setErr(err);
        // A wrong command or option is a one-line error, not a page of usage.
        cli.setParameterExceptionHandler((e, a) -> {
            String where = e.getCommandLine().getCommandName();
            err.println("panamax: " + e.getMessage() + " (see ./panamax "
                    + ("panamax".equals(where) ? "" : where + " ") + "--help)");
            return 2;
        });
        cli.setExecutionExceptionHandler((e, c, p) -> {
            err.println("panamax: " + (e.getMessage() != null ? e.getMessage() : e.toString()));
            return 1;
        });
        return cli.execute(args);
    }

    /** slf4j-simple reads its level once, at the first logger: set it before anything logs. */
    static void configureLogging(String[] args) {
        int level = 0;
        for (String a : args) {
            if (a.equals("-v") || a.equals("--verbose")) level++;
            else if (a.matches("-v+")) level += a.length() - 1;
        }
        String name = level == 0 ? "warn" : level == 1 ? "info" : "debug";
        System.setProperty("org.slf4j.simpleLogger.defaultLogLevel",
                System.getProperty("org.slf4j.simpleLogger.defaultLogLevel", name));
        System.setProperty("org.slf4j.simpleLogger.logFile", "System.err");
    }

    static final class Version implements CommandLine.IVersionProvider {
        @Override
        public String[] getVersion() {
            String v = Main.class.getPackage().getImplementationVersion();
            return new String[] {"panamax " + (v != null ? v : "(development build)")};
        }
    }
}
