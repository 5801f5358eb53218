package dev.panamax.tokenizer;

import com.fasterxml.jackson.core.JsonGenerator;
import com.fasterxml.jackson.core.util.DefaultIndenter;
import com.fasterxml.jackson.core.util.DefaultPrettyPrinter;
import com.fasterxml.jackson.core.util.Separators;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.SerializationFeature;
import com.hubspot.jinjava.Jinjava;
import com.hubspot.jinjava.JinjavaConfig;
import com.hubspot.jinjava.LegacyOverrides;
import com.hubspot.jinjava.el.JinjavaInterpreterResolver;
import com.hubspot.jinjava.interpret.JinjavaInterpreter;
import com.hubspot.jinjava.interpret.RenderResult;
import com.hubspot.jinjava.interpret.TemplateError;
import com.hubspot.jinjava.lib.filter.Filter;
import com.hubspot.jinjava.lib.fn.ELFunctionDefinition;
import com.hubspot.jinjava.objects.SafeString;
import com.hubspot.jinjava.objects.date.StrftimeFormatter;
import dev.panamax.gguf.GgufFormatException;
import dev.panamax.gguf.GgufMetadata;
import java.io.IOException;
import java.io.StringWriter;
import java.io.UncheckedIOException;
import java.time.Clock;
import java.time.ZonedDateTime;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.Objects;
import jinjava.javax.el.CompositeELResolver;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * A model's chat template ({@code tokenizer.chat_template}, Jinja) rendered as Hugging Face's {@code
 * apply_chat_template} does: Jinja with {@code trim_blocks} and {@code lstrip_blocks}, the variables {@code messages},
 * {@code add_generation_prompt}, {@code bos_token}, {@code eos_token}, the functions {@code raise_exception(msg)} and
 * {@code strftime_now(fmt)}, a {@code tojson} filter that writes what Python's {@code json.dumps} writes, and the
 * Python string and dict methods templates call ({@code .strip()}, {@code .startswith()}, {@code .items()}, ...).
 * The engine is Jinjava. A template that cannot render the system role (it raises or drops it) gets llama.cpp's
 * workaround: the system text is merged into the next message. Known difference from jinja2: a boolean printed
 * directly ({@code {{ flag }}}) reads true/false, not True/False (templates test booleans; they rarely print them).
 * Immutable and thread-safe.
 *
 * <p>A template comes from a model file, so from a stranger: it runs in a sandbox. It reads no file or classpath
 * resource ({@code include}, {@code import}, {@code from}, {@code extends} are disabled and the resource locator refuses
 * everything), reaches no Java class or method beyond the values it is given (Jinjava's restricted-method list:
 * {@code getClass}, {@code forName}, ...), never interprets what it outputs again (a message saying
 * <code>{{ 7*7 }}</code> stays that text), and filters that evaluate or log ({@code render}, {@code fromyaml},
 * {@code log}, {@code regex_replace}, {@code random}, {@code shuffle}) are disabled. Its size and cost are bounded:
 * {@link #MAX_SOURCE_CHARS} of source, {@link #MAX_NESTING} levels of brackets in an expression and of nested blocks,
 * {@link #MAX_OPERATORS} operators in one tag, strings of at most {@link #MAX_STRING_CHARS} characters, lists and
 * ranges of {@link #MAX_ITEMS}, output of {@link #MAX_OUTPUT_CHARS}, macro recursion 64 deep, and per render
 * {@link #MAX_NODES} template nodes, {@link #MAX_RENDER_ALLOCATION} bytes allocated and {@link #MAX_RENDER_MILLIS}
 * ms. Past any of these the template fails with a {@link ChatTemplateException}.
 */
public final class ChatTemplate {
    private static final Logger LOG = LoggerFactory.getLogger(ChatTemplate.class);

    /** What llama.cpp renders when a model file carries no template (common/chat.cpp, CHATML_TEMPLATE_SRC). */
    public static final String CHATML = """
            {%- for message in messages -%}
              {{- '<|im_start|>' + message.role + '\\n' + message.content + '<|im_end|>\\n' -}}
            {%- endfor -%}
            {%- if add_generation_prompt -%}
              {{- '<|im_start|>assistant\\n' -}}
            {%- endif -%}""";

    /** Jinjava's switches toward jinja2's semantics (LegacyOverrides.ALL less the whitespace it requires in {{x}}). */
    private static final LegacyOverrides JINJA2 = LegacyOverrides.newBuilder()
            .withEvaluateMapKeys(true) // {'a': 1}: keys are expressions
            .withIterateOverMapKeys(true) // for k in dict: keys
            .withUsePyishObjectMapper(true) // True/False, ['a', 'b'] when printed
            .withUseNaturalOperatorPrecedence(true)
            .withParseWhitespaceControlStrictly(true)
            .withAllowAdjacentTextNodes(true)
            .withUseTrimmingForNotesAndExpressions(true) // {{- x -}} and {#- -#} trim like {%- -%}
            .withKeepNullableLoopValues(true)
            .withHandleBackslashInQuotesOnly(true) // '\n' in a string literal is a newline
            .build();
    private static final String NOW_VAR = "__panamax_now";

    /** Largest template source accepted (the largest real templates are ~20k characters). */
    public static final int MAX_SOURCE_CHARS = 256 * 1024;
    /** Deepest nesting of brackets inside one tag, and of blocks (if, for, macro, ...) inside each other. */
    public static final int MAX_NESTING = 64;
    /** Most operators, filters and tests in one tag (Jinjava parses and evaluates them recursively). */
    public static final int MAX_OPERATORS = 512;
    /** Longest string a template may build, and the longest output. */
    public static final int MAX_STRING_CHARS = 8 << 20;
    public static final int MAX_OUTPUT_CHARS = 8 << 20;
    /** Largest list, map or range a template may build. */
    public static final int MAX_ITEMS = 100_000;
    /** Per render: template nodes visited (loop bodies count once per iteration), bytes allocated, time. */
    public static final long MAX_NODES = 1_000_000;
    public static final long MAX_RENDER_ALLOCATION = 256L << 20;
    public static final long MAX_RENDER_MILLIS = 10_000;
    /** Filters a file's template does not get: they evaluate text as a template, parse YAML, log, or backtrack. */
    private static final java.util.Set<String> DISABLED_FILTERS = java.util.Set.of("render", "fromyaml", "log",
            "regex_replace", "random", "shuffle", "ipaddr", "ipv4", "ipv6");
    private static final java.util.Set<String> DISABLED_TAGS = java.util.Set.of("include", "import", "from", "extends");
    /** Filters whose numeric arguments size their result (a width, a count): bounded by MAX_STRING_CHARS. */
    private static final java.util.Set<String> SIZING_FILTERS = java.util.Set.of("center", "indent", "wordwrap", "batch",
            "slice", "truncate", "truncatehtml", "format", "format_number", "filesizeformat", "tojson");
    private static final ThreadLocal<RenderBudget> BUDGET = new ThreadLocal<>();
    private static final ObjectMapper JSON = new ObjectMapper().disable(SerializationFeature.FAIL_ON_EMPTY_BEANS);

    private final String source;
    private final String bosToken;
    private final String eosToken;
    private final Clock clock;
    private final Jinjava jinjava;
    private final boolean supportsSystemRole;
    private final String prepared;
    private final ToolCallFormat toolCallFormat;

    private ChatTemplate(String source, String bosToken, String eosToken, Clock clock) {
        this.source = source;
        this.bosToken = bosToken;
        this.eosToken = eosToken;
        this.clock = clock;
        checkStructure(source);
        this.prepared = JinjaCompat.rewrite(jinjaSource(source));
        this.toolCallFormat = ToolCallFormat.detect(source);
        CompositeELResolver resolver = new CompositeELResolver();
        resolver.add(new PythonMethods());
        resolver.add(JinjavaInterpreterResolver.DEFAULT_RESOLVER_READ_WRITE);
        JinjavaConfig config = JinjavaConfig.newBuilder()
                .withTrimBlocks(true)
                .withLstripBlocks(true)
                .withKeepTrailingNewline(true) // jinja2's default drop of one trailing newline is done on the source
                .withElResolver(resolver)
                .withLegacyOverrides(JINJA2)

                .withFailOnUnknownTokens(false)
                .withNestedInterpretationEnabled(false) // output containing {{ }} is text, never a template
                .withMaxOutputSize(MAX_OUTPUT_CHARS)
                .withMaxStringLength(MAX_STRING_CHARS)
                .withMaxListSize(MAX_ITEMS)
                .withMaxMapSize(MAX_ITEMS)
                .withRangeLimit(MAX_ITEMS)
                .withMaxRenderDepth(8)
                .withEnableRecursiveMacroCalls(true)
                .withMaxMacroRecursionDepth(64)
                .withDisabled(Map.of(com.hubspot.jinjava.interpret.Context.Library.TAG, DISABLED_TAGS,
                        com.hubspot.jinjava.interpret.Context.Library.FILTER, DISABLED_FILTERS))
                .withNodePreProcessor((node, interpreter) -> step())
                .withInterperterFactory(new com.hubspot.jinjava.interpret.InterpreterFactory() {
                    @Override
                    public JinjavaInterpreter newInstance(JinjavaInterpreter orig) {
                        return new BudgetedInterpreter(orig);
                    }

                    @Override
                    public JinjavaInterpreter newInstance(Jinjava j, com.hubspot.jinjava.interpret.Context c, JinjavaConfig cfg) {
                        return new BudgetedInterpreter(j, c, cfg);
                    }
                })
                .build();
        this.jinjava = new Jinjava(config);
        jinjava.setResourceLocator((name, charset, interpreter) -> {
            throw new com.hubspot.jinjava.loader.ResourceNotFoundException("a chat template reads no files: " + name);
        });
        for (Filter f : List.copyOf(jinjava.getGlobalContext().getAllFilters())) {
            jinjava.getGlobalContext().registerFilter(new BoundedFilter(f));
        }
        try {
            jinjava.registerFunction(new ELFunctionDefinition("", "raise_exception",
                    ChatTemplate.class.getDeclaredMethod("raiseException", String.class)));
            jinjava.registerFunction(new ELFunctionDefinition("", "strftime_now",
                    ChatTemplate.class.getDeclaredMethod("strftimeNow", String.class)));
        } catch (NoSuchMethodException e) {
            throw new AssertionError(e);
        }
        jinjava.registerFilter(new BoundedFilter(new ToJson()));
        jinjava.registerFilter(new BoundedFilter(new Items()));
        jinjava.registerFilter(new BoundedFilter(new Trim()));
        jinjava.getGlobalContext().registerExpTest(new IsIterable());
        this.supportsSystemRole = probeSystemRole();
    }

    /**
     * A template from its Jinja source.
     *
     * @param bosToken the text of the model's BOS token ({@code bos_token} in the template; "" when none)
     * @param eosToken the text of the model's EOS token ({@code eos_token})
     * @throws ChatTemplateException when the template does not parse or cannot render a plain conversation
     */
    public static ChatTemplate of(String source, String bosToken, String eosToken) {
        return of(source, bosToken, eosToken, Clock.systemDefaultZone());
    }

    /** As {@link #of(String, String, String)}, with the clock that {@code strftime_now} reads. */
    public static ChatTemplate of(String source, String bosToken, String eosToken, Clock clock) {
        Objects.requireNonNull(source, "source");
        ChatTemplate t = new ChatTemplate(source, bosToken == null ? "" : bosToken, eosToken == null ? "" : eosToken,
                Objects.requireNonNull(clock, "clock"));
        t.render(List.of(ChatMessage.user("test")), true); // fail early, with the template's own message
        return t;
    }

    /**
     * The template of a GGUF file ({@code tokenizer.chat_template}), with {@code bos_token}/{@code eos_token} taken
     * from the vocabulary. A file without a template gets {@link #CHATML}, as llama.cpp does (logged).
     */
    public static ChatTemplate fromGguf(GgufMetadata md, Tokenizer tokenizer) throws GgufFormatException {
        String src = md.getString("tokenizer.chat_template", null);
        if (src == null || src.isEmpty() || src.equals("chatml")) {
            LOG.info("the model has no tokenizer.chat_template: using ChatML (<|im_start|>role ... <|im_end|>), as llama.cpp does");
            src = CHATML;
        }
        String bos = tokenizer.bos() == Vocabulary.NONE ? "" : tokenizer.tokenString(tokenizer.bos());
        String eos = tokenizer.eos() == Vocabulary.NONE ? "" : tokenizer.tokenString(tokenizer.eos());
        return of(src, bos, eos);
    }

    /**
     * The tokens of a rendered conversation, as llama.cpp's chat makes them: a leading BOS text is dropped when the
     * tokenizer adds BOS itself (and a trailing EOS text when it adds EOS), then the text is tokenized with
     * add_special=true and parse_special=true, so that {@code <|im_start|>} and friends become their tokens.
     */
    public int[] tokenize(String rendered, Tokenizer tokenizer) {
        String text = rendered;
        if (tokenizer.addsBos() && !bosToken.isEmpty() && text.startsWith(bosToken)) text = text.substring(bosToken.length());
        if (tokenizer.addsEos() && !eosToken.isEmpty() && text.endsWith(eosToken)) {
            text = text.substring(0, text.length() - eosToken.length());
        }
        return tokenizer.encode(text, true, true);
    }

    public String source() {
        return source;
    }

    public String bosToken() {
        return bosToken;
    }

    public String eosToken() {
        return eosToken;
    }

    /** Whether the template renders a leading system message itself (else {@link #render} merges it forward). */
    public boolean supportsSystemRole() {
        return supportsSystemRole;
    }

    /**
     * The conversation as the model expects it: what {@code apply_chat_template(messages, add_generation_prompt,
     * tokenize=False)} gives (special tokens appear as their text).
     *
     * @throws ChatTemplateException when the template raises (e.g. roles that do not alternate) or fails to render
     */
    public String render(List<ChatMessage> messages, boolean addGenerationPrompt) {
        return render(messages, List.of(), addGenerationPrompt);
    }

    /**
     * As {@link #render(List, boolean)}, with the functions the model may call: each an OpenAI tool object ({@code
     * {"type": "function", "function": {"name", "description", "parameters"}}}, as parsed JSON: maps, lists, strings,
     * numbers), given to the template as {@code tools}, as transformers' {@code apply_chat_template(tools=...)} does.
     * Assistant turns carry their {@code tool_calls} ({@code {"id", "type": "function", "function": {"name",
     * "arguments"}}}, arguments as a mapping when they are a JSON object: what the templates print with tojson), tool
     * turns their {@code tool_call_id} and {@code name}. A template that renders no tools ({@link ToolCallFormat#GENERIC})
     * gets them in the system message instead.
     */
    public String render(List<ChatMessage> messages, List<Object> tools, boolean addGenerationPrompt) {
        List<ChatMessage> msgs = messages;
        if (!tools.isEmpty() && !toolCallFormat().templateRendersTools()) {
            String instruction = ToolCallFormat.genericInstruction(toJson(tools, 2, false), true);
            msgs = new ArrayList<>(msgs);
            if (!msgs.isEmpty() && msgs.get(0).role().equals("system")) {
                msgs.set(0, msgs.get(0).withContent(msgs.get(0).content() + "\n\n" + instruction));
            } else {
                msgs.add(0, ChatMessage.system(instruction));
            }
            tools = List.of();
        }
        if (!supportsSystemRole && !msgs.isEmpty() && msgs.get(0).role().equals("system")) {
            // llama.cpp (common/chat.cpp, system_message_not_supported): merge into the next message, else drop
            List<ChatMessage> m = new ArrayList<>(msgs.subList(1, msgs.size()));
            if (!m.isEmpty()) {
                ChatMessage next = m.get(0);
                m.set(0, next.withContent(msgs.get(0).content() + "\n" + next.content()));
            }
            msgs = m;
        }
        return renderRaw(msgs, tools, addGenerationPrompt);
    }

    /** How this template's model writes tool calls. */
    public ToolCallFormat toolCallFormat() {
        return toolCallFormat;
    }

    private static Map<String, Object> messageMap(ChatMessage m) {
        Map<String, Object> o = new LinkedHashMap<>();
        o.put("role", m.role());
        o.put("content", m.content());
        if (!m.toolCalls().isEmpty()) {
            List<Object> calls = new ArrayList<>();
            for (ToolCall c : m.toolCalls()) {
                Map<String, Object> fn = new LinkedHashMap<>();
                fn.put("name", c.name());
                fn.put("arguments", argumentsValue(c.arguments()));
                Map<String, Object> call = new LinkedHashMap<>();
                call.put("id", c.id());
                call.put("type", "function");
                call.put("function", fn);
                calls.add(call);
            }
            o.put("tool_calls", calls);
        }
        if (m.toolCallId() != null) o.put("tool_call_id", m.toolCallId());
        if (m.name() != null) o.put("name", m.name());
        return o;
    }

    /** A call's arguments as the templates expect them: the parsed object when they are a JSON object, else the text. */
    private static Object argumentsValue(String args) {
        try {
            Object v = JSON.readValue(args, Object.class);
            return v instanceof Map ? v : args;
        } catch (IOException e) {
            return args;
        }
    }

    private String renderRaw(List<ChatMessage> messages, List<Object> tools, boolean addGenerationPrompt) {
        List<Map<String, Object>> ms = new ArrayList<>(messages.size());
        for (ChatMessage m : messages) ms.add(messageMap(m));
        Map<String, Object> vars = new HashMap<>();
        if (!tools.isEmpty()) vars.put("tools", tools);
        vars.put("messages", ms);
        vars.put("add_generation_prompt", addGenerationPrompt);
        vars.put("bos_token", bosToken);
        vars.put("eos_token", eosToken);
        vars.put(NOW_VAR, ZonedDateTime.now(clock));
        // templates test "strftime_now is defined" before calling it (Llama 3.x); functions are not variables in Jinjava
        vars.put("strftime_now", true);
        vars.put("raise_exception", true);
        RenderResult r;
        RenderBudget outer = BUDGET.get();
        BUDGET.set(new RenderBudget());
        try {
            r = jinjava.renderForResult(prepared, vars);
        } catch (TemplateRaised e) {
            throw new ChatTemplateException("the chat template raised: " + e.getMessage());
        } catch (OverBudget e) {
            throw new ChatTemplateException("chat template: " + e.getMessage());
        } catch (RuntimeException e) {
            OverBudget ob = find(e, OverBudget.class);
            if (ob != null) throw new ChatTemplateException("chat template: " + ob.getMessage());
            throw new ChatTemplateException("chat template: " + describe(e), e);
        } catch (StackOverflowError e) {
            // a backstop: the nesting bounds should make this unreachable
            throw new ChatTemplateException("chat template: nested too deeply to evaluate");
        } finally {
            BUDGET.set(outer);
        }
        for (TemplateError e : r.getErrors()) {
            Throwable cause = e.getException();
            while (cause != null && !(cause instanceof TemplateRaised) && cause.getCause() != cause) cause = cause.getCause();
            if (cause instanceof TemplateRaised) {
                throw new ChatTemplateException("the chat template raised: " + cause.getMessage());
            }
            OverBudget ob = find(e.getException(), OverBudget.class);
            if (ob != null) throw new ChatTemplateException("chat template: " + ob.getMessage());
            if (e.getSeverity() == TemplateError.ErrorType.FATAL) {
                throw new ChatTemplateException("chat template, line " + e.getLineno() + ": " + e.getMessage()
                        + " (" + e.getReason() + ")", e.getException());
            }
        }
        return r.getOutput();
    }

    private static <T extends Throwable> T find(Throwable e, Class<T> type) {
        for (int depth = 0; e != null && depth < 32; depth++, e = e.getCause()) {
            if (type.isInstance(e)) return type.cast(e);
        }
        return null;
    }

    /**
     * One linear pass over the source before Jinjava sees it: its size, the nesting of brackets inside each tag and of
     * blocks inside each other, and the operators per tag. Jinjava's parsers recurse (and its expression parser is
     * quadratic in nesting), so these bound its stack and its time.
     */
    static void checkStructure(String src) {
        if (src.length() > MAX_SOURCE_CHARS) {
            throw new ChatTemplateException("chat template of " + src.length() + " characters exceeds " + MAX_SOURCE_CHARS);
        }
        int blocks = 0;
        int n = src.length();
        int i = 0;
        while (i < n) {
            int open = src.indexOf('{', i);
            if (open < 0 || open + 1 >= n) break;
            char kind = src.charAt(open + 1);
            if (kind != '{' && kind != '%' && kind != '#') {
                i = open + 1;
                continue;
            }
            if (kind == '#') {
                int end = src.indexOf("#}", open + 2);
                if (end < 0) break; // an unclosed comment: Jinjava reports it
                i = end + 2;
                continue;
            }
            char close = kind == '{' ? '}' : '%';
            int depth = 0, operators = 0, j = open + 2;
            int wordStart = -1;
            String first = null;
            boolean assignment = false;
            for (; j < n; j++) {
                char c = src.charAt(j);
                if (c == '\'' || c == '"') {
                    int k = j + 1;
                    while (k < n && src.charAt(k) != c) k += src.charAt(k) == '\\' ? 2 : 1;
                    j = Math.min(k, n);
                    continue;
                }
                if (c == close && j + 1 < n && src.charAt(j + 1) == '}' && depth <= 0) break;
                if (Character.isLetter(c) || c == '_') {
                    if (wordStart < 0) wordStart = j;
                    if (j + 1 < n && (Character.isLetterOrDigit(src.charAt(j + 1)) || src.charAt(j + 1) == '_')) continue;
                    String w = src.substring(wordStart, j + 1);
                    wordStart = -1;
                    if (first == null) first = w;
                    if (w.equals("not") || w.equals("and") || w.equals("or") || w.equals("is") || w.equals("in")) operators++;
                    continue;
                }
                wordStart = -1;
                switch (c) {
                    case '(', '[', '{' -> {
                        if (++depth > MAX_NESTING) {
                            throw new ChatTemplateException("chat template: brackets nested deeper than " + MAX_NESTING
                                    + " at character " + j);
                        }
                    }
                    case ')', ']', '}' -> depth--;
                    case '|', '+', '-', '*', '/', '%', '~', '<', '>', '=', '!', '.' -> {
                        operators++;
                        if (c == '=' && depth == 0) assignment = true;
                    }
                    default -> { }
                }
                if (operators > MAX_OPERATORS) {
                    throw new ChatTemplateException("chat template: more than " + MAX_OPERATORS + " operators in the tag at character " + open);
                }
            }
            if (j >= n) break; // an unclosed tag: Jinjava reports it
            if (kind == '%' && first != null) {
                if (first.startsWith("end")) {
                    blocks--;
                } else if (BLOCK_TAGS.contains(first) || first.equals("set") && !assignment) {
                    if (++blocks > MAX_NESTING) {
                        throw new ChatTemplateException("chat template: blocks nested deeper than " + MAX_NESTING + " at character " + open);
                    }
                }
            }
            i = j + 2;
        }
    }

    private static final java.util.Set<String> BLOCK_TAGS = java.util.Set.of("if", "for", "macro", "call", "filter", "raw",
            "block", "autoescape", "unless", "ifchanged", "with", "generation");

    static void checkLength(long chars, String what) {
        if (chars > MAX_STRING_CHARS) {
            throw new OverBudget(what + " would make a string of " + chars + " characters (at most " + MAX_STRING_CHARS + ")");
        }
    }

    /** A render's limit was reached; surfaces as a ChatTemplateException. */
    static final class OverBudget extends RuntimeException {
        OverBudget(String message) {
            super(message, null, false, false);
        }
    }

    private static void step() {
        RenderBudget b = BUDGET.get();
        if (b != null) b.step();
    }

    /**
     * Counts every expression evaluation against the render's budget: loop bodies and macro bodies are rendered
     * without the node pre-processor, but every tag and output in them evaluates an expression here.
     */
    private static final class BudgetedInterpreter extends JinjavaInterpreter {
        BudgetedInterpreter(Jinjava j, com.hubspot.jinjava.interpret.Context c, JinjavaConfig cfg) {
            super(j, c, cfg);
        }

        BudgetedInterpreter(JinjavaInterpreter orig) {
            super(orig);
        }

        @Override
        public Object resolveELExpression(String expression, int lineNumber) {
            step();
            return super.resolveELExpression(expression, lineNumber);
        }

        @Override
        public Object resolveELExpression(String expression, int lineNumber, int position) {
            step();
            return super.resolveELExpression(expression, lineNumber, position);
        }
    }

    /** Nodes, bytes and time of one render, checked before each template node runs. */
    private static final class RenderBudget {
        private static final com.sun.management.ThreadMXBean THREADS = threads();
        private final long start = System.nanoTime();
        private final long allocatedAtStart = allocated();
        private long nodes;

        /** Once a limit is reached every later step fails too: Jinjava records an expression's error and goes on. */
        private String exceeded;

        void step() {
            if (exceeded == null) {
                if (++nodes > MAX_NODES) {
                    exceeded = "rendering took more than " + MAX_NODES + " template steps";
                } else if ((nodes & 15) == 0) {
                    long a = allocated();
                    if (System.nanoTime() - start > MAX_RENDER_MILLIS * 1_000_000) {
                        exceeded = "rendering took more than " + MAX_RENDER_MILLIS + " ms";
                    } else if (a >= 0 && a - allocatedAtStart > MAX_RENDER_ALLOCATION) {
                        exceeded = "rendering allocated more than " + (MAX_RENDER_ALLOCATION >> 20) + " MiB";
                    }
                }
            }
            if (exceeded != null) throw new OverBudget(exceeded);
        }

        private static long allocated() {
            return THREADS == null ? -1 : THREADS.getCurrentThreadAllocatedBytes();
        }

        private static com.sun.management.ThreadMXBean threads() {
            try {
                if (java.lang.management.ManagementFactory.getThreadMXBean() instanceof com.sun.management.ThreadMXBean t
                        && t.isThreadAllocatedMemorySupported() && t.isThreadAllocatedMemoryEnabled()) {
                    return t;
                }
            } catch (RuntimeException | LinkageError e) {
                // not HotSpot: the node and time bounds still hold
            }
            return null;
        }
    }

    /**
     * Every filter behind two checks: numeric arguments that size a result (widths, counts) at most MAX_STRING_CHARS,
     * and a result string, list or map within the render's limits, so that chained filters cannot grow without bound.
     */
    private static final class BoundedFilter implements Filter {
        private final Filter inner;
        private final boolean sizing;

        BoundedFilter(Filter inner) {
            this.inner = inner;
            this.sizing = SIZING_FILTERS.contains(inner.getName());
        }

        @Override
        public String getName() {
            return inner.getName();
        }

        @Override
        public boolean preserveSafeString() {
            return inner.preserveSafeString();
        }

        @Override
        public Object filter(Object var, JinjavaInterpreter interpreter, String... args) {
            checkArgs(var, args, Map.of());
            return checkResult(inner.filter(var, interpreter, args));
        }

        @Override
        public Object filter(Object var, JinjavaInterpreter interpreter, Object[] args, Map<String, Object> kwargs) {
            checkArgs(var, args, kwargs);
            return checkResult(inner.filter(var, interpreter, args, kwargs));
        }

        private void checkArgs(Object var, Object[] args, Map<String, Object> kwargs) {
            if (!sizing) return;
            List<Object> all = new ArrayList<>(java.util.Arrays.asList(args == null ? new Object[0] : args));
            all.addAll(kwargs.values());
            if (getName().equals("format") && var != null) all.add(var); // "%2000000000s"|format(x)
            for (Object a : all) {
                if (a instanceof Number num && Math.abs(num.doubleValue()) > MAX_STRING_CHARS) {
                    throw new OverBudget("filter " + getName() + " with argument " + a);
                }
                if (a instanceof CharSequence cs) {
                    // a number written as text, or a format width: any run of 8+ digits
                    int run = 0;
                    for (int k = 0; k < cs.length(); k++) {
                        run = Character.isDigit(cs.charAt(k)) ? run + 1 : 0;
                        if (run >= 8) throw new OverBudget("filter " + getName() + " with argument " + cs.subSequence(0, Math.min(cs.length(), 40)));
                    }
                }
            }
        }

        private static Object checkResult(Object r) {
            if (r instanceof CharSequence cs) checkLength(cs.length(), "a filter");
            else if (r instanceof SafeString ss) checkLength(ss.getValue().length(), "a filter");
            else if (r instanceof java.util.Collection<?> c && c.size() > MAX_ITEMS) throw new OverBudget("a filter made a list of " + c.size() + " items");
            else if (r instanceof Map<?, ?> m && m.size() > MAX_ITEMS) throw new OverBudget("a filter made a map of " + m.size() + " entries");
            return r;
        }
    }

    /** jinja2 (keep_trailing_newline=False, HF's setting) drops one newline at the end of the source. */
    private static String jinjaSource(String s) {
        if (s.endsWith("\r\n")) return s.substring(0, s.length() - 2);
        if (s.endsWith("\n") || s.endsWith("\r")) return s.substring(0, s.length() - 1);
        return s;
    }

    private static String describe(Throwable e) {
        return e.getMessage() != null ? e.getMessage() : e.toString();
    }

    /** llama.cpp's caps check: the system text must reach the output of a [system, user] conversation. */
    private boolean probeSystemRole() {
        String needle = "System message 8c1f";
        try {
            return renderRaw(List.of(ChatMessage.system(needle), ChatMessage.user("User message")), List.of(), true).contains(needle);
        } catch (ChatTemplateException e) {
            return false;
        }
    }

    // ---- functions and filters the templates call ----

    /** Thrown by raise_exception() inside the template. */
    static final class TemplateRaised extends RuntimeException {
        TemplateRaised(String message) {
            super(message);
        }
    }

    public static Object raiseException(String message) {
        throw new TemplateRaised(message);
    }

    public static String strftimeNow(String format) {
        Object now = JinjavaInterpreter.getCurrentMaybe().map(i -> i.getContext().get(NOW_VAR)).orElse(null);
        ZonedDateTime t = now instanceof ZonedDateTime z ? z : ZonedDateTime.now();
        return StrftimeFormatter.format(t, format, Locale.ENGLISH);
    }

    /** Python's json.dumps(x, ensure_ascii=False, indent=..., sort_keys=...): separators ", " and ": ". */
    static final class ToJson implements Filter {
        @Override
        public String getName() {
            return "tojson";
        }

        @Override
        public Object filter(Object var, JinjavaInterpreter interpreter, String... args) {
            return filter(var, interpreter, args, Map.of());
        }

        @Override
        public Object filter(Object var, JinjavaInterpreter interpreter, Object[] args, Map<String, Object> kwargs) {
            Object indentArg = kwargs.containsKey("indent") ? kwargs.get("indent") : args.length > 0 ? args[0] : null;
            boolean sortKeys = Boolean.TRUE.equals(kwargs.get("sort_keys"));
            Integer indent = indentArg == null ? null : ((Number) (indentArg instanceof String s ? Integer.valueOf(s) : indentArg)).intValue();
            // a plain string (autoescape is off): templates slice it, e.g. Mistral's out[:-1]
            return toJson(var instanceof SafeString s ? s.getValue() : var, indent, sortKeys);
        }
    }

    /** jinja2's {@code items} filter: a mapping's (key, value) pairs, for {@code for k, v in d|items}. */
    static final class Items implements Filter {
        @Override
        public String getName() {
            return "items";
        }

        @Override
        public Object filter(Object var, JinjavaInterpreter interpreter, String... args) {
            if (!(var instanceof Map<?, ?> m)) return List.of();
            List<Map.Entry<Object, Object>> out = new ArrayList<>(m.size());
            for (Map.Entry<?, ?> e : m.entrySet()) out.add(new java.util.AbstractMap.SimpleImmutableEntry<>(e.getKey(), e.getValue()));
            return out;
        }
    }

    /** jinja2's {@code trim}: an undefined value trims to "" (Hermes 2 Pro prints an absent description this way). */
    static final class Trim implements Filter {
        @Override
        public String getName() {
            return "trim";
        }

        @Override
        public Object filter(Object var, JinjavaInterpreter interpreter, String... args) {
            if (var == null) return "";
            String s = var.toString();
            if (args.length == 0 || args[0] == null) return s.strip();
            String chars = args[0];
            int a = 0, b = s.length();
            while (a < b && chars.indexOf(s.charAt(a)) >= 0) a++;
            while (b > a && chars.indexOf(s.charAt(b - 1)) >= 0) b--;
            return s.substring(a, b);
        }
    }

    /** jinja2's {@code is iterable}: strings are iterable too (Llama 3.1 prints a tool result with tojson because of it). */
    static final class IsIterable implements com.hubspot.jinjava.lib.exptest.ExpTest {
        @Override
        public String getName() {
            return "iterable";
        }

        @Override
        public boolean evaluate(Object var, JinjavaInterpreter interpreter, Object... args) {
            return var instanceof CharSequence || var instanceof Iterable || var instanceof Map || var != null && var.getClass().isArray()
                    || var instanceof java.util.Iterator;
        }
    }

    static String toJson(Object value, Integer indent, boolean sortKeys) {
        try {
            StringWriter w = new StringWriter();
            JsonGenerator g = JSON.getFactory().createGenerator(w);
            if (indent == null) {
                g.setPrettyPrinter(new PythonCompactPrinter());
            } else {
                DefaultIndenter ind = new DefaultIndenter(" ".repeat(indent), "\n");
                DefaultPrettyPrinter pp = new DefaultPrettyPrinter()
                        .withSeparators(Separators.createDefaultInstance()
                                .withObjectFieldValueSpacing(Separators.Spacing.AFTER)
                                .withObjectEmptySeparator("").withArrayEmptySeparator(""));
                pp.indentArraysWith(ind);
                pp.indentObjectsWith(ind);
                g.setPrettyPrinter(pp);
            }
            Object v = sortKeys ? sorted(value) : value;
            JSON.writeValue(g, v);
            return w.toString();
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }

    private static Object sorted(Object v) {
        if (v instanceof Map<?, ?> m) {
            Map<String, Object> t = new java.util.TreeMap<>();
            m.forEach((k, x) -> t.put(String.valueOf(k), sorted(x)));
            return t;
        }
        if (v instanceof List<?> l) return l.stream().map(ChatTemplate::sorted).toList();
        return v;
    }

    /** json.dumps' default layout: {"a": 1, "b": [1, 2]}. */
    private static final class PythonCompactPrinter extends com.fasterxml.jackson.core.util.MinimalPrettyPrinter {
        @Override
        public void writeObjectFieldValueSeparator(JsonGenerator g) throws IOException {
            g.writeRaw(": ");
        }

        @Override
        public void writeObjectEntrySeparator(JsonGenerator g) throws IOException {
            g.writeRaw(", ");
        }

        @Override
        public void writeArrayValueSeparator(JsonGenerator g) throws IOException {
            g.writeRaw(", ");
        }
    }
}
