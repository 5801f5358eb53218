package dev.panamax.hostile;

import static dev.panamax.hostile.GgufImage.*;

import dev.panamax.hostile.GgufImage.Kv;
import dev.panamax.hostile.GgufImage.Tensor;
import dev.panamax.model.TinyDeepseek;
import dev.panamax.model.TinyModels;
import dev.panamax.tensor.GgmlType;
import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Random;
import java.util.function.Consumer;

/**
 * The hostile-input corpus: variants of three small valid model files (a Q8_0 llama with a chat template, a deepseek2
 * MoE with V3-style routing, and the llama with a byte-level BPE tokenizer) in every GGUF bug class that advisories
 * against GGUF loaders have shown, numbered as in issue 17: 1 header counts, 2 string lengths, 3 array counts and
 * element types, 4 value types and type confusion, 5 n_dims, 6 dims, 7 tensor types, 8 offsets and alignment, 9
 * duplicates and long names, 10 special token ids and hyperparameters, 11 tokenizer content, 12 truncation, 13 random
 * byte flips, inserts and chunk duplications, and 14 chat templates (injection payloads, resource bombs). Everything
 * derives from fixed seeds: the same corpus every run, nothing committed. {@code main(dir)} writes it to files for
 * running through the CLI.
 */
public final class HostileCorpus {

    /** One variant: its class ("01-header-counts" ...), a name, the file's bytes. */
    public record Case(String cls, String name, byte[] bytes) {
        @Override
        public String toString() {
            return cls + "/" + name;
        }
    }

    private final Map<String, GgufImage> bases = new LinkedHashMap<>();
    private final List<Case> cases = new ArrayList<>();

    /** Writes the base files into {@code dir} (a scratch directory) and builds every case. */
    public static List<Case> generate(Path dir, int randomPerBase) throws IOException {
        HostileCorpus c = new HostileCorpus();
        c.bases.put("llama", GgufImage.parse(Files.readAllBytes(
                TinyModels.write(dir, "llama", GgmlType.Q8_0, false, 7, null, TinyModels.TINYLLAMA_CHAT_TEMPLATE))));
        c.bases.put("ds2", GgufImage.parse(Files.readAllBytes(TinyDeepseek.write(dir,
                TinyDeepseek.Options.defaults().v3().withLayers(2, 1).withYarn(true)))));
        c.bases.put("bpe", withBpeVocabulary(c.bases.get("llama").copy()));
        c.build(randomPerBase);
        return c.cases;
    }

    /** The valid base files themselves (each must load and generate: the corpus checks it first). */
    public static List<Case> bases(Path dir) throws IOException {
        HostileCorpus c = new HostileCorpus();
        c.bases.put("llama", GgufImage.parse(Files.readAllBytes(
                TinyModels.write(dir, "llama", GgmlType.Q8_0, false, 7, null, TinyModels.TINYLLAMA_CHAT_TEMPLATE))));
        c.bases.put("ds2", GgufImage.parse(Files.readAllBytes(TinyDeepseek.write(dir,
                TinyDeepseek.Options.defaults().v3().withLayers(2, 1).withYarn(true)))));
        c.bases.put("bpe", withBpeVocabulary(c.bases.get("llama").copy()));
        List<Case> out = new ArrayList<>();
        c.bases.forEach((k, g) -> out.add(new Case("00-base", k, g.bytes())));
        return out;
    }

    public static void main(String[] args) throws IOException {
        Path out = Path.of(args.length > 0 ? args[0] : "hostile-corpus");
        Files.createDirectories(out);
        Path scratch = Files.createTempDirectory("hostile-bases");
        List<Case> all = new ArrayList<>(bases(scratch));
        all.addAll(generate(scratch, args.length > 1 ? Integer.parseInt(args[1]) : 500));
        for (Case c : all) {
            Path d = out.resolve(c.cls());
            Files.createDirectories(d);
            Files.write(d.resolve(c.name().replaceAll("[^A-Za-z0-9._=+-]", "_") + ".gguf"), c.bytes());
        }
        System.out.println(all.size() + " files in " + out);
    }

    private void add(String cls, String base, String name, Consumer<GgufImage> edit) {
        GgufImage g = bases.get(base).copy();
        edit.accept(g);
        cases.add(new Case(cls, base + "-" + name, g.bytes()));
    }

    private void addBytes(String cls, String name, byte[] b) {
        cases.add(new Case(cls, name, b));
    }

    static final long[] HUGE = {-1L, 1L << 62, 1L << 40, 1L << 32, (1L << 31), Long.MAX_VALUE, Long.MIN_VALUE};

    private void build(int randomPerBase) {
        headerCounts();
        stringLengths();
        arrays();
        typeConfusion();
        nDims();
        dims();
        tensorTypes();
        offsetsAndAlignment();
        duplicatesAndNames();
        specialIdsAndHyperparameters();
        tokenizerContent();
        truncations();
        randomMutations(randomPerBase);
        chatTemplates();
    }

    // 1
    private void headerCounts() {
        String c = "01-header-counts";
        for (String b : bases.keySet()) {
            int nt = bases.get(b).tensors.size(), nkv = bases.get(b).kvs.size();
            for (long h : HUGE) {
                add(c, b, "n_tensors=" + Long.toUnsignedString(h), g -> g.nTensors = h);
                add(c, b, "n_kv=" + Long.toUnsignedString(h), g -> g.nKv = h);
            }
            add(c, b, "n_tensors+1", g -> g.nTensors = (long) nt + 1);
            add(c, b, "n_tensors-1", g -> g.nTensors = (long) nt - 1);
            add(c, b, "n_tensors=0", g -> g.nTensors = 0L);
            add(c, b, "n_kv+1", g -> g.nKv = (long) nkv + 1);
            add(c, b, "n_kv-1", g -> g.nKv = (long) nkv - 1);
            add(c, b, "n_kv=0", g -> g.nKv = 0L);
            add(c, b, "version=1", g -> g.version = 1);
            add(c, b, "version=2", g -> g.version = 2); // valid: v2 has the same layout
            add(c, b, "version=2^32-1", g -> g.version = 0xFFFFFFFFL);
        }
    }

    // 2
    private void stringLengths() {
        String c = "02-string-lengths";
        for (String b : bases.keySet()) {
            GgufImage base = bases.get(b);
            long[] lies = {-1L, 1L << 62, 1L << 31, 0, 1, 1L << 20, 100_000};
            for (long lie : lies) {
                String l = Long.toUnsignedString(lie);
                add(c, b, "key#0-len=" + l, g -> g.kvs.get(0).keyLength = lie);
                add(c, b, "key#last-len=" + l, g -> g.kvs.getLast().keyLength = lie);
                add(c, b, "tensor-name#0-len=" + l, g -> g.tensors.get(0).nameLength = lie);
                add(c, b, "tensor-name#last-len=" + l, g -> g.tensors.getLast().nameLength = lie);
                add(c, b, "arch-value-len=" + l, g -> patchLong(g.kv("general.architecture").value, 0, lie));
                add(c, b, "tokens[0]-len=" + l, g -> patchLong(g.kv("tokenizer.ggml.tokens").value, 12, lie));
            }
            // the length of the last string that reaches EOF: remaining + 1
            add(c, b, "key-len=past-eof", g -> g.kvs.getLast().keyLength = (long) g.bytes().length);
            add(c, b, "key-len=len+1", g -> g.kvs.get(1).keyLength = (long) g.kvs.get(1).key.length + 1);
            add(c, b, "key-len=len-1", g -> g.kvs.get(1).keyLength = (long) g.kvs.get(1).key.length - 1);
            add(c, b, "empty-key", g -> g.kvs.get(1).key = new byte[0]);
            add(c, b, "empty-tensor-name", g -> g.tensors.get(0).name = new byte[0]);
            add(c, b, "empty-arch", g -> g.put("general.architecture", STRING, str("")));
            add(c, b, "empty-token", g -> setToken(g, 5, ""));
            add(c, b, "invalid-utf8-key", g -> g.kvs.get(1).key = new byte[] {(byte) 0xC3, 0x28, 'k'});
            add(c, b, "invalid-utf8-token", g -> setTokenBytes(g, 300 - 1, new byte[] {(byte) 0xF8, (byte) 0x88, (byte) 0x80}));
            add(c, b, "invalid-utf8-tensor-name", g -> g.tensors.get(0).name = new byte[] {(byte) 0xFF, (byte) 0xFE});
            add(c, b, "nul-in-arch", g -> g.put("general.architecture", STRING, str("llama\0x")));
            if (base.has("tokenizer.chat_template")) {
                add(c, b, "template-len-huge", g -> patchLong(g.kv("tokenizer.chat_template").value, 0, 1L << 62));
                add(c, b, "template-len-short", g -> patchLong(g.kv("tokenizer.chat_template").value, 0, 3));
            }
        }
    }

    // 3
    private void arrays() {
        String c = "03-arrays";
        for (String b : bases.keySet()) {
            for (long h : HUGE) {
                add(c, b, "tokens-count=" + Long.toUnsignedString(h), g -> patchLong(g.kv("tokenizer.ggml.tokens").value, 4, h));
                add(c, b, "scores-count=" + Long.toUnsignedString(h), g -> patchLong(g.kv("tokenizer.ggml.scores").value, 4, h));
            }
            add(c, b, "tokens-count+1", g -> patchLong(g.kv("tokenizer.ggml.tokens").value, 4, arrayCount(g.kv("tokenizer.ggml.tokens").value) + 1));
            add(c, b, "tokens-count-1", g -> patchLong(g.kv("tokenizer.ggml.tokens").value, 4, arrayCount(g.kv("tokenizer.ggml.tokens").value) - 1));
            add(c, b, "scores-count-1", g -> patchLong(g.kv("tokenizer.ggml.scores").value, 4, arrayCount(g.kv("tokenizer.ggml.scores").value) - 1));
            add(c, b, "types-count=0", g -> g.put("tokenizer.ggml.token_type", ARRAY, array(INT32, 0, new byte[0])));
            add(c, b, "scores-count=1", g -> g.put("tokenizer.ggml.scores", ARRAY, array(FLOAT32, 1, f32(1))));
            for (int et : new int[] {13, 255, -1, Integer.MIN_VALUE, 0x7FFFFFFF}) {
                add(c, b, "tokens-elemtype=" + Integer.toUnsignedString(et), g -> patchInt(g.kv("tokenizer.ggml.tokens").value, 0, et));
            }
            // arrays of arrays where strings or numbers are expected
            byte[] nested = array(ARRAY, 2, concat(array(STRING, 1, str("a")), array(STRING, 1, str("b"))));
            add(c, b, "tokens=array-of-arrays", g -> g.put("tokenizer.ggml.tokens", ARRAY, nested));
            add(c, b, "scores=array-of-arrays", g -> g.put("tokenizer.ggml.scores", ARRAY, nested));
            add(c, b, "merges=array-of-arrays", g -> g.put("tokenizer.ggml.merges", ARRAY, nested));
            add(c, b, "arch=array", g -> g.put("general.architecture", ARRAY, array(STRING, 1, str("llama"))));
            add(c, b, "nested-array-count-huge", g -> g.put("x.nested", ARRAY, array(ARRAY, 1, array(UINT8, 1L << 60, new byte[16]))));
            add(c, b, "nested-deep-9", g -> g.put("x.deep", ARRAY, deepArray(9)));
            add(c, b, "nested-deep-1000", g -> g.put("x.deep", ARRAY, deepArray(1000)));
            add(c, b, "array-of-empty-arrays-many", g -> g.put("x.many", ARRAY, array(ARRAY, 20000, repeat(array(UINT8, 0, new byte[0]), 20000))));
            add(c, b, "array-of-empty-strings-many", g -> g.put("x.strs", ARRAY, array(STRING, 100000, new byte[8 * 100000])));
        }
    }

    // 4
    private void typeConfusion() {
        String c = "04-type-confusion";
        for (String b : bases.keySet()) {
            GgufImage base = bases.get(b);
            int n = (int) arrayCount(base.kv("tokenizer.ggml.tokens").value);
            add(c, b, "scores=INT8", g -> g.put("tokenizer.ggml.scores", ARRAY, array(INT8, n, new byte[n])));
            add(c, b, "scores=STRING", g -> g.put("tokenizer.ggml.scores", ARRAY, strings(repeatList("1.0", n))));
            add(c, b, "scores=INT32", g -> g.put("tokenizer.ggml.scores", ARRAY, array(INT32, n, new byte[4 * n]))); // valid
            add(c, b, "scores=FLOAT64", g -> g.put("tokenizer.ggml.scores", ARRAY, array(FLOAT64, n, new byte[8 * n])));
            add(c, b, "scores=scalar", g -> g.put("tokenizer.ggml.scores", FLOAT32, f32(1)));
            add(c, b, "token_type=INT8", g -> g.put("tokenizer.ggml.token_type", ARRAY, array(INT8, n, filled(n, 1))));
            add(c, b, "token_type=STRING", g -> g.put("tokenizer.ggml.token_type", ARRAY, strings(repeatList("1", n))));
            add(c, b, "token_type=UINT32", g -> g.put("tokenizer.ggml.token_type", ARRAY, array(UINT32, n, new byte[4 * n])));
            add(c, b, "token_type=FLOAT32", g -> g.put("tokenizer.ggml.token_type", ARRAY, array(FLOAT32, n, new byte[4 * n])));
            add(c, b, "tokens=INT32", g -> g.put("tokenizer.ggml.tokens", ARRAY, array(INT32, n, new byte[4 * n])));
            add(c, b, "tokens=scalar-string", g -> g.put("tokenizer.ggml.tokens", STRING, str("hello")));
            add(c, b, "merges=INT32", g -> g.put("tokenizer.ggml.merges", ARRAY, array(INT32, 3, new byte[12])));
            add(c, b, "model=UINT32", g -> g.put("tokenizer.ggml.model", UINT32, u32(1)));
            add(c, b, "pre=UINT32", g -> g.put("tokenizer.ggml.pre", UINT32, u32(1)));
            add(c, b, "bos=STRING", g -> g.put("tokenizer.ggml.bos_token_id", STRING, str("1")));
            add(c, b, "bos=FLOAT32", g -> g.put("tokenizer.ggml.bos_token_id", FLOAT32, f32(1)));
            add(c, b, "bos=INT64", g -> g.put("tokenizer.ggml.bos_token_id", INT64, u64(1))); // valid
            add(c, b, "bos=BOOL", g -> g.put("tokenizer.ggml.bos_token_id", BOOL, new byte[] {1}));
            add(c, b, "add_bos=UINT8-2", g -> g.put("tokenizer.ggml.add_bos_token", UINT8, new byte[] {2}));
            add(c, b, "add_bos=BOOL-7", g -> g.put("tokenizer.ggml.add_bos_token", BOOL, new byte[] {7}));
            add(c, b, "add_bos=STRING", g -> g.put("tokenizer.ggml.add_bos_token", STRING, str("true")));
            add(c, b, "arch=UINT32", g -> g.put("general.architecture", UINT32, u32(1)));
            String arch = archOf(base);
            add(c, b, "embedding_length=STRING", g -> g.put(arch + ".embedding_length", STRING, str("64")));
            add(c, b, "embedding_length=FLOAT32", g -> g.put(arch + ".embedding_length", FLOAT32, f32(64)));
            add(c, b, "embedding_length=UINT64", g -> g.put(arch + ".embedding_length", UINT64, u64(64))); // valid
            add(c, b, "embedding_length=UINT64-huge", g -> g.put(arch + ".embedding_length", UINT64, u64(-1)));
            add(c, b, "embedding_length=INT8-neg", g -> g.put(arch + ".embedding_length", INT8, new byte[] {-64}));
            add(c, b, "context_length=UINT64-2^63", g -> g.put(arch + ".context_length", UINT64, u64(Long.MIN_VALUE)));
            add(c, b, "eps=STRING", g -> g.put(arch + ".attention.layer_norm_rms_epsilon", STRING, str("1e-5")));
            add(c, b, "eps=UINT32", g -> g.put(arch + ".attention.layer_norm_rms_epsilon", UINT32, u32(1)));
            add(c, b, "eps=FLOAT64", g -> g.put(arch + ".attention.layer_norm_rms_epsilon", FLOAT64, f64(1e-5))); // valid
            add(c, b, "template=UINT32", g -> g.put("tokenizer.chat_template", UINT32, u32(7)));
            add(c, b, "template=array", g -> g.put("tokenizer.chat_template", ARRAY, array(STRING, 1, str("{{ x }}"))));
            add(c, b, "alignment=STRING", g -> g.put("general.alignment", STRING, str("32")));
            // a scalar's type id out of range (its bytes then mean nothing)
            for (int t : new int[] {13, 255, -1, Integer.MIN_VALUE}) {
                add(c, b, "bos-type=" + Integer.toUnsignedString(t), g -> g.kv("tokenizer.ggml.bos_token_id").type = t);
                add(c, b, "tokens-type=" + Integer.toUnsignedString(t), g -> g.kv("tokenizer.ggml.tokens").type = t);
            }
            // tokens read as a scalar of another size: the rest of the file shifts under the parser
            add(c, b, "tokens-type=UINT64", g -> g.kv("tokenizer.ggml.tokens").type = UINT64);
            add(c, b, "scores-type=STRING", g -> g.kv("tokenizer.ggml.scores").type = STRING);
        }
    }

    // 5
    private void nDims() {
        String c = "05-n-dims";
        for (String b : bases.keySet()) {
            for (String t : new String[] {"token_embd.weight", "blk.0.attn_norm.weight", "output.weight"}) {
                if (!hasTensor(bases.get(b), t)) continue;
                for (long nd : new long[] {0, 5, 1L << 31, 0xFFFFFFFFL}) {
                    add(c, b, t + "-n_dims=" + nd + "-raw", g -> g.tensor(t).nDims = nd); // dims bytes unchanged: misparse
                }
                add(c, b, t + "-n_dims=0", g -> { g.tensor(t).nDims = 0; g.tensor(t).dims = new long[0]; });
                add(c, b, t + "-n_dims=5", g -> { Tensor x = g.tensor(t); x.nDims = 5; x.dims = Arrays.copyOf(x.dims, 5); fillOnes(x.dims); });
                add(c, b, t + "-n_dims=4", g -> { Tensor x = g.tensor(t); x.nDims = 4; x.dims = Arrays.copyOf(x.dims, 4); fillOnes(x.dims); }); // valid layout
                add(c, b, t + "-n_dims-1", g -> { Tensor x = g.tensor(t); x.nDims = x.dims.length - 1; x.dims = Arrays.copyOf(x.dims, x.dims.length - 1); });
            }
        }
    }

    // 6
    private void dims() {
        String c = "06-dims";
        for (String b : bases.keySet()) {
            GgufImage base = bases.get(b);
            List<String> names = new ArrayList<>();
            names.add("token_embd.weight");
            names.add(base.tensors.get(base.tensors.size() / 2).name());
            names.add(base.tensors.getLast().name());
            for (String t : names) {
                long[] values = {0, 1, -1L, 1L << 62, 1L << 32, 31, 33, 65, 1L << 20};
                for (int d = 0; d < base.tensor(t).dims.length; d++) {
                    int dd = d;
                    for (long v : values) add(c, b, t + "-ne" + d + "=" + Long.toUnsignedString(v), g -> g.tensor(t).dims[dd] = v);
                }
                add(c, b, t + "-product-overflow", g -> { Tensor x = g.tensor(t); x.nDims = 4; x.dims = new long[] {1L << 16, 1L << 16, 1L << 16, 1L << 16}; });
                add(c, b, t + "-bytes-overflow", g -> { Tensor x = g.tensor(t); x.nDims = 2; x.dims = new long[] {1L << 31, 1L << 31}; });
                add(c, b, t + "-transposed", g -> { Tensor x = g.tensor(t); if (x.dims.length > 1) { long s = x.dims[0]; x.dims[0] = x.dims[1]; x.dims[1] = s; } });
            }
        }
    }

    // 7
    private void tensorTypes() {
        String c = "07-tensor-types";
        int[] types = {-1, 4, 5, 31, 40, 1000, Integer.MIN_VALUE, 0, 1, 2, 3, 6, 7, 8, 10, 12, 13, 14, 24, 25, 26, 27, 28, 29, 30};
        for (String b : bases.keySet()) {
            GgufImage base = bases.get(b);
            String[] names = {"token_embd.weight", "blk.0.attn_norm.weight", base.tensors.getLast().name(), base.tensors.get(5).name()};
            for (String t : names) {
                for (int ty : types) add(c, b, t + "-type=" + ty, g -> g.tensor(t).type = ty);
            }
            add(c, b, "all-types-F16", g -> g.tensors.forEach(t -> t.type = 1));
        }
    }

    // 8
    private void offsetsAndAlignment() {
        String c = "08-offsets-alignment";
        for (String b : bases.keySet()) {
            GgufImage base = bases.get(b);
            String first = base.tensors.get(0).name(), mid = base.tensors.get(base.tensors.size() / 2).name(), last = base.tensors.getLast().name();
            for (String t : new String[] {first, mid, last}) {
                long[] offs = {-1L, Long.MAX_VALUE, 1L << 40, base.data.length, base.data.length - 32, 1, 16, 31, 33};
                for (long o : offs) add(c, b, t + "-offset=" + Long.toUnsignedString(o), g -> g.tensor(t).offset = o);
                add(c, b, t + "-offset+32", g -> g.tensor(t).offset += 32);
                add(c, b, t + "-offset-32", g -> g.tensor(t).offset -= 32);
                add(c, b, t + "-overlaps-first", g -> g.tensor(t).offset = g.tensors.get(0).offset);
            }
            add(c, b, "all-offsets-0", g -> g.tensors.forEach(t -> t.offset = 0));
            add(c, b, "offsets-reversed", g -> {
                List<Long> o = new ArrayList<>(g.tensors.stream().map(t -> t.offset).toList());
                java.util.Collections.reverse(o);
                for (int i = 0; i < o.size(); i++) g.tensors.get(i).offset = o.get(i);
            });
            long[] aligns = {0, 1, 2, 13, 16, 48, 64, 1L << 31, 0xFFFFFFFFL, 1L << 12};
            for (long a : aligns) {
                // keep the file's layout (a shifted data section) ...
                add(c, b, "alignment=" + a + "-old-layout", g -> g.put("general.alignment", UINT32, u32(a)));
            }
            // ... or lay the file out for it (valid when a power of two that the offsets respect)
            for (int a : new int[] {1, 8, 64, 256}) {
                add(c, b, "alignment=" + a + "-relaid", g -> relayout(g, a));
            }
            add(c, b, "alignment=UINT64", g -> g.put("general.alignment", UINT64, u64(32)));
            add(c, b, "alignment=INT32", g -> g.put("general.alignment", INT32, u32(32)));
            add(c, b, "no-padding", g -> g.padTo = 1);
            add(c, b, "data-truncated-by-1", g -> g.data = Arrays.copyOf(g.data, g.data.length - 1));
            add(c, b, "data-extended", g -> g.data = Arrays.copyOf(g.data, g.data.length + 4096));
        }
    }

    // 9
    private void duplicatesAndNames() {
        String c = "09-duplicates-names";
        for (String b : bases.keySet()) {
            add(c, b, "dup-tokens-key", g -> g.kvs.add(g.kv("tokenizer.ggml.tokens").copy()));
            add(c, b, "dup-arch-key", g -> { Kv k = g.kv("general.architecture").copy(); k.value = str("qwen2"); g.kvs.add(k); });
            add(c, b, "dup-bos-key-first", g -> { Kv k = g.kv("tokenizer.ggml.bos_token_id").copy(); k.value = u32(99999); g.kvs.addFirst(k); });
            add(c, b, "dup-tensor-name", g -> g.tensors.get(1).name = g.tensors.get(0).name.clone());
            add(c, b, "dup-tensor-last", g -> g.tensors.getLast().name = g.tensors.get(0).name.clone());
            for (int len : new int[] {63, 64, 255, 65536}) {
                add(c, b, "tensor-name-" + len, g -> g.tensors.get(0).name = "a".repeat(len).getBytes(StandardCharsets.UTF_8));
                add(c, b, "key-" + len, g -> g.kvs.add(new Kv("k".repeat(len).getBytes(StandardCharsets.UTF_8), UINT32, u32(1))));
            }
            add(c, b, "tensor-name-63-multibyte", g -> g.tensors.get(0).name = "é".repeat(32).getBytes(StandardCharsets.UTF_8));
            add(c, b, "value-1MiB-string", g -> g.put("general.name", STRING, str("x".repeat(1 << 20))));
            add(c, b, "missing-tensor", g -> g.tensors.remove(3));
            add(c, b, "renamed-tensor", g -> g.tensors.get(3).name = "blk.99.attn_q.weight".getBytes(StandardCharsets.UTF_8));
            add(c, b, "extra-unknown-tensor", g -> { Tensor t = g.tensors.getLast().copy(); t.name = "zzz.weight".getBytes(StandardCharsets.UTF_8); g.tensors.add(t); });
        }
    }

    // 10
    private void specialIdsAndHyperparameters() {
        String c = "10-ids-hparams";
        for (String b : bases.keySet()) {
            GgufImage base = bases.get(b);
            String a = archOf(base);
            int n = (int) arrayCount(base.kv("tokenizer.ggml.tokens").value);
            String[] idKeys = {"bos_token_id", "eos_token_id", "unknown_token_id", "padding_token_id", "eot_token_id", "eom_token_id"};
            long[] ids = {n, n - 1, 0xFFFFFFFFL, 1L << 31, 1L << 32, 0};
            for (String k : idKeys) {
                for (long id : ids) add(c, b, k + "=" + id, g -> g.put("tokenizer.ggml." + k, UINT32, u32(id)));
                add(c, b, k + "=INT32-1", g -> g.put("tokenizer.ggml." + k, INT32, u32(-1)));
                add(c, b, k + "=INT64-2^40", g -> g.put("tokenizer.ggml." + k, INT64, u64(1L << 40)));
            }
            add(c, b, "add_bos-without-bos", g -> { g.put("tokenizer.ggml.bos_token_id", INT32, u32(-1)); g.put("tokenizer.ggml.add_bos_token", BOOL, new byte[] {1}); });
            add(c, b, "add_eos-with-eos-out-of-range", g -> { g.put("tokenizer.ggml.eos_token_id", UINT32, u32(n + 5)); g.put("tokenizer.ggml.add_eos_token", BOOL, new byte[] {1}); });
            String[] hp = {"context_length", "embedding_length", "block_count", "feed_forward_length", "attention.head_count",
                    "attention.head_count_kv", "rope.dimension_count", "attention.key_length", "attention.value_length"};
            long[] vals = {0, 1, 3, 7, 1000, 0x7FFFFFFFL, 0xFFFFFFFFL};
            for (String k : hp) {
                for (long v : vals) add(c, b, k + "=" + v, g -> g.put(a + "." + k, UINT32, u32(v)));
            }
            for (float f : new float[] {Float.NaN, Float.POSITIVE_INFINITY, -1f, 0f, 1e30f, 1e-30f}) {
                add(c, b, "eps=" + f, g -> g.put(a + ".attention.layer_norm_rms_epsilon", FLOAT32, f32(f)));
                add(c, b, "freq_base=" + f, g -> g.put(a + ".rope.freq_base", FLOAT32, f32(f)));
                add(c, b, "rope-factor=" + f, g -> g.put(a + ".rope.scaling.factor", FLOAT32, f32(f)));
                add(c, b, "attn_factor=" + f, g -> g.put(a + ".rope.scaling.attn_factor", FLOAT32, f32(f)));
            }
            add(c, b, "rope-type=yarn", g -> g.put(a + ".rope.scaling.type", STRING, str("yarn")));
            add(c, b, "rope-type=unknown", g -> g.put(a + ".rope.scaling.type", STRING, str("longrope")));
            add(c, b, "rope-orig-ctx=0", g -> g.put(a + ".rope.scaling.original_context_length", UINT32, u32(0)));
            add(c, b, "rope-orig-ctx=-1", g -> g.put(a + ".rope.scaling.original_context_length", INT32, u32(-1)));
            if (a.equals("deepseek2")) {
                String[] moe = {"expert_count", "expert_used_count", "expert_shared_count", "expert_feed_forward_length",
                        "leading_dense_block_count", "expert_group_count", "expert_group_used_count", "expert_gating_func",
                        "attention.q_lora_rank", "attention.kv_lora_rank", "attention.key_length_mla", "attention.value_length_mla"};
                for (String k : moe) {
                    for (long v : new long[] {0, 1, 2, 3, 9, 64, 0x7FFFFFFFL, 0xFFFFFFFFL}) add(c, b, k + "=" + v, g -> g.put(a + "." + k, UINT32, u32(v)));
                }
                for (float f : new float[] {Float.NaN, 1e30f, -1e30f, Float.NEGATIVE_INFINITY}) {
                    add(c, b, "yarn_log_multiplier=" + f, g -> g.put(a + ".rope.scaling.yarn_log_multiplier", FLOAT32, f32(f)));
                    add(c, b, "expert_weights_scale=" + f, g -> g.put(a + ".expert_weights_scale", FLOAT32, f32(f)));
                }
                add(c, b, "no-q_lora-key", g -> g.remove(a + ".attention.q_lora_rank"));
                add(c, b, "no-mla-keys", g -> { g.remove(a + ".attention.key_length_mla"); g.remove(a + ".attention.value_length_mla"); });
                // non-finite weights in the router and everywhere: defined results, never an index error
                add(c, b, "router-nan", g -> fillTensor(g, "blk.1.ffn_gate_inp.weight", Float.NaN));
                add(c, b, "router-inf", g -> fillTensor(g, "blk.1.ffn_gate_inp.weight", Float.POSITIVE_INFINITY));
                add(c, b, "probs-bias-nan", g -> fillTensor(g, "blk.1.exp_probs_b.bias", Float.NaN));
            }
            add(c, b, "norm-nan", g -> fillTensor(g, "blk.0.attn_norm.weight", Float.NaN));
            add(c, b, "norm-inf", g -> fillTensor(g, "output_norm.weight", Float.POSITIVE_INFINITY));
            add(c, b, "arch=unknown", g -> g.put("general.architecture", STRING, str("mamba")));
            add(c, b, "arch=qwen2-no-bias", g -> renameArch(g, "qwen2"));
            add(c, b, "arch=deepseek2-from-" + a, g -> renameArch(g, a.equals("deepseek2") ? "llama" : "deepseek2"));
        }
    }

    // 11
    private void tokenizerContent() {
        String c = "11-tokenizer";
        for (String b : bases.keySet()) {
            GgufImage base = bases.get(b);
            int n = (int) arrayCount(base.kv("tokenizer.ggml.tokens").value);
            add(c, b, "empty-vocab", g -> {
                g.put("tokenizer.ggml.tokens", ARRAY, array(STRING, 0, new byte[0]));
                g.put("tokenizer.ggml.scores", ARRAY, array(FLOAT32, 0, new byte[0]));
                g.put("tokenizer.ggml.token_type", ARRAY, array(INT32, 0, new byte[0]));
            });
            add(c, b, "one-token-vocab", g -> {
                g.put("tokenizer.ggml.tokens", ARRAY, strings(List.of("a")));
                g.put("tokenizer.ggml.scores", ARRAY, array(FLOAT32, 1, f32(0)));
                g.put("tokenizer.ggml.token_type", ARRAY, array(INT32, 1, u32(1)));
            });
            add(c, b, "all-tokens-equal", g -> g.put("tokenizer.ggml.tokens", ARRAY, strings(repeatList("a", n))));
            add(c, b, "all-tokens-empty", g -> g.put("tokenizer.ggml.tokens", ARRAY, strings(repeatList("", n))));
            add(c, b, "duplicate-byte-tokens", g -> { for (int i = 3; i < 40; i++) setToken(g, i, "<0x41>"); });
            for (String bt : new String[] {"<0x-1>", "<0xZZ>", "<0x>", "<0x1>", "<0x100>", "<0xFFFFFFFF>", "!", "", "<0x4", "<0xé>"}) {
                add(c, b, "byte-token=" + bt, g -> { setToken(g, 3 + 0x41, bt); setType(g, 3 + 0x41, 6); });
            }
            add(c, b, "all-tokens-byte-type", g -> g.put("tokenizer.ggml.token_type", ARRAY, array(INT32, n, repeat(u32(6), n))));
            add(c, b, "all-tokens-control", g -> g.put("tokenizer.ggml.token_type", ARRAY, array(INT32, n, repeat(u32(3), n))));
            add(c, b, "all-tokens-user-defined", g -> g.put("tokenizer.ggml.token_type", ARRAY, array(INT32, n, repeat(u32(4), n))));
            for (int ty : new int[] {-5, 0, 7, 1000, Integer.MIN_VALUE}) add(c, b, "token-type=" + ty, g -> setType(g, 100, ty));
            add(c, b, "scores-nan", g -> g.put("tokenizer.ggml.scores", ARRAY, array(FLOAT32, n, repeat(f32(Float.NaN), n))));
            add(c, b, "scores-inf", g -> g.put("tokenizer.ggml.scores", ARRAY, array(FLOAT32, n, repeat(f32(Float.NEGATIVE_INFINITY), n))));
            add(c, b, "no-byte-tokens-no-unk", g -> {
                for (int i = 3; i < 259; i++) setToken(g, i, "#" + i);
                g.remove("tokenizer.ggml.unknown_token_id");
                setToken(g, 0, "<unk0>");
                setType(g, 0, 1);
            });
            add(c, b, "token-64KiB", g -> setToken(g, 299, "x".repeat(65536)));
            add(c, b, "token-64KiB-unmapped", g -> setToken(g, 299, "\u4e00".repeat(30000)));
            add(c, b, "user-defined-empty-and-space", g -> { setToken(g, 298, " "); setType(g, 298, 4); setToken(g, 297, ""); setType(g, 297, 4); });
            add(c, b, "user-defined-many", g -> { for (int i = 260; i < 300; i++) setType(g, i, 4); });
            for (String m : new String[] {"bert", "", "\0", "LLAMA", "gpt2 ", "ugm", "rwkv", "none", "no_vocab"}) {
                add(c, b, "model=" + m.replace("\0", "NUL"), g -> g.put("tokenizer.ggml.model", STRING, str(m)));
            }
            add(c, b, "no-model-key", g -> g.remove("tokenizer.ggml.model"));
            add(c, b, "no-tokens-key", g -> g.remove("tokenizer.ggml.tokens"));
            add(c, b, "no-scores-no-types", g -> { g.remove("tokenizer.ggml.scores"); g.remove("tokenizer.ggml.token_type"); });
            add(c, b, "vocab-larger-than-embeddings", g -> {
                List<String> t = new ArrayList<>(stringItems(g.kv("tokenizer.ggml.tokens").value));
                for (int i = 0; i < 50; i++) t.add("extra" + i);
                g.put("tokenizer.ggml.tokens", ARRAY, strings(t));
            });
            // BPE: merges
            boolean bpe = b.equals("bpe");
            if (bpe) {
                List<String> merges = stringItems(base.kv("tokenizer.ggml.merges").value);
                add(c, b, "merges-no-space", g -> g.put("tokenizer.ggml.merges", ARRAY, strings(merges.stream().map(m -> m.replace(" ", "")).toList())));
                add(c, b, "merges-unknown-halves", g -> g.put("tokenizer.ggml.merges", ARRAY, strings(merges.stream().map(m -> "\u4e00 " + m).toList())));
                add(c, b, "merges-empty-strings", g -> g.put("tokenizer.ggml.merges", ARRAY, strings(repeatList("", 50))));
                add(c, b, "merges-only-spaces", g -> g.put("tokenizer.ggml.merges", ARRAY, strings(repeatList("   ", 50))));
                add(c, b, "merges-many-duplicates", g -> g.put("tokenizer.ggml.merges", ARRAY, strings(repeatList(merges.get(0), 5000))));
                add(c, b, "merges-missing", g -> g.remove("tokenizer.ggml.merges"));
                add(c, b, "merges-huge-line", g -> g.put("tokenizer.ggml.merges", ARRAY, strings(List.of("a".repeat(40000) + " " + "b".repeat(40000)))));
                add(c, b, "merges-result-not-in-vocab", g -> g.put("tokenizer.ggml.merges", ARRAY, strings(List.of("Ġ x", "x y", "q q"))));
                for (String p : new String[] {"unknown-pre", "", "llama3", "qwen2", "deepseek-llm", "gpt-2", "default"}) {
                    add(c, b, "pre=" + p, g -> g.put("tokenizer.ggml.pre", STRING, str(p)));
                }
            } else {
                add(c, b, "spm-with-merges-array", g -> g.put("tokenizer.ggml.merges", ARRAY, strings(List.of("a b"))));
            }
        }
    }

    // 12
    private void truncations() {
        String c = "12-truncation";
        for (String b : bases.keySet()) {
            byte[] full = bases.get(b).bytes();
            int header = bases.get(b).headerEnd();
            Random r = new Random(1200 + b.hashCode());
            java.util.TreeSet<Integer> cuts = new java.util.TreeSet<>();
            for (int i = 0; i < 24; i++) cuts.add(i);                      // inside the magic, version, counts
            for (int i = 0; i < 80; i++) cuts.add(r.nextInt(header));      // inside metadata and tensor infos
            for (int i = 0; i < 16; i++) cuts.add(header + r.nextInt(full.length - header)); // inside the data
            cuts.add(header);
            cuts.add(header - 1);
            cuts.add(full.length - 1);
            for (int cut : cuts) addBytes(c, b + "-prefix=" + cut, Arrays.copyOf(full, cut));
        }
    }

    // 13
    private void randomMutations(int perBase) {
        String c = "13-random";
        for (String b : bases.keySet()) {
            byte[] full = bases.get(b).bytes();
            int header = bases.get(b).headerEnd();
            Random r = new Random(1300 + b.hashCode());
            for (int i = 0; i < perBase; i++) {
                byte[] m = full.clone();
                int kind = r.nextInt(6);
                int muts = 1 + r.nextInt(8);
                // mostly in the header, where the structure is; a fifth anywhere
                for (int k = 0; k < muts; k++) {
                    int span = r.nextInt(5) == 0 ? m.length : Math.min(header, m.length);
                    int at = r.nextInt(Math.max(1, span));
                    switch (kind) {
                        case 0 -> m[at] ^= (byte) (1 << r.nextInt(8));
                        case 1 -> m[at] = (byte) r.nextInt(256);
                        case 2 -> { // an interesting integer where a count, length, type or offset may be
                            long v = switch (r.nextInt(6)) {
                                case 0 -> -1L;
                                case 1 -> 1L << r.nextInt(64);
                                case 2 -> r.nextInt(64);
                                case 3 -> 0x7FFFFFFFL;
                                case 4 -> 0;
                                default -> r.nextLong();
                            };
                            int width = r.nextBoolean() ? 4 : 8;
                            for (int x = 0; x < width && at + x < m.length; x++) m[at + x] = (byte) (v >>> (8 * x));
                        }
                        case 3 -> { // insert bytes
                            int len = 1 + r.nextInt(16);
                            byte[] ins = new byte[len];
                            r.nextBytes(ins);
                            m = concat(Arrays.copyOf(m, at), ins, Arrays.copyOfRange(m, at, m.length));
                        }
                        case 4 -> { // duplicate a chunk in place
                            int len = 1 + r.nextInt(Math.min(256, m.length - at));
                            m = concat(Arrays.copyOf(m, at + len), Arrays.copyOfRange(m, at, m.length));
                        }
                        default -> { // delete a chunk
                            int len = 1 + r.nextInt(Math.min(64, m.length - at));
                            m = concat(Arrays.copyOf(m, at), Arrays.copyOfRange(m, at + len, m.length));
                        }
                    }
                }
                addBytes(c, b + "-" + i, m);
            }
        }
    }

    // 14
    /** Known template-injection payloads and resource bombs; each rendered by Model.chatTemplate(). */
    static final List<String> HOSTILE_TEMPLATES = List.of(
            // sandbox escapes (jinja2 SSTI payloads and their Java/Jinjava forms)
            "{{ ''.__class__.__mro__[1].__subclasses__() }}",
            "{{ cycler.__init__.__globals__.os.popen('id').read() }}",
            "{{ self.__init__.__globals__.__builtins__ }}",
            "{{ ''.getClass().forName('java.lang.Runtime').getRuntime().exec('id') }}",
            "{{ ''.class.forName('java.lang.Runtime') }}",
            "{{ messages.getClass().getClassLoader() }}",
            "{{ messages[0].getClass().getProtectionDomain() }}",
            "{% set x = ''.getClass() %}{{ x.getMethods() }}",
            "{{ bos_token.getClass().getModule() }}",
            "{{ ''.class.classLoader.loadClass('java.io.File') }}",
            "{{ messages.stream().findFirst() }}",
            "{{ __import__('os').system('id') }}",
            "{% include '/etc/passwd' %}",
            "{% include 'META-INF/MANIFEST.MF' %}",
            "{% import '/etc/passwd' as p %}{{ p }}",
            "{% from '/etc/passwd' import x %}{{ x }}",
            "{% extends '/etc/passwd' %}",
            "{% include 'file:///etc/passwd' %}",
            "{{ 'x'|fromjson }}",
            "{{ 'http://127.0.0.1/'|urlize }}",
            // resource bombs: output, strings, lists, loops, recursion, nesting
            "{{ 'x' * 1000000000 }}",
            "{% set s = 'xxxxxxxxxx' %}{% for i in range(12) %}{% set s = s + s + s + s + s + s + s + s + s + s %}{% endfor %}{{ s }}",
            "{% set s = 'xxxxxxxxxx' %}{{ s.replace('x', s).replace('x', s).replace('x', s).replace('x', s).replace('x', s).replace('x', s).replace('x', s).replace('x', s).replace('x', s) }}",
            "{{ ('x' * 100000).replace('x', 'yyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyy').replace('y', 'zzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzz') }}",
            "{{ 'x'.center(2000000000) }}",
            "{{ 'x'.ljust(2000000000) }}",
            "{{ range(1000000000)|list|length }}",
            "{% for i in range(1000000000) %}x{% endfor %}",
            "{% for a in range(100000) %}{% for b in range(100000) %}{% for c in range(100000) %}{% endfor %}{% endfor %}{% endfor %}",
            "{% for a in range(1000) %}{% for b in range(1000) %}{% for c in range(1000) %}{% for d in range(1000) %}{% endfor %}{% endfor %}{% endfor %}{% endfor %}",
            "{% macro f(n) %}{{ f(n + 1) }}{% endmacro %}{{ f(0) }}",
            "{% macro f(n) %}{{ f(n) }}{{ f(n) }}{% endmacro %}{{ f(0) }}",
            "{% macro f(n) %}{% if n > 0 %}{{ f(n - 1) }}{{ f(n - 1) }}{% endif %}{% endmacro %}{{ f(40) }}",
            "{{ " + "(".repeat(20000) + "1" + ")".repeat(20000) + " }}",
            "{{ " + "[".repeat(5000) + "1" + "]".repeat(5000) + " }}",
            "{{ " + "{'a':".repeat(3000) + "1" + "}".repeat(3000) + " }}",
            "{{ " + "1 + ".repeat(20000) + "1 }}",
            "{{ x" + "|string".repeat(10000) + " }}",
            "{{ " + "not ".repeat(20000) + "x }}",
            "{% if true %}".repeat(5000) + "x" + "{% endif %}".repeat(5000),
            "{% for m in messages %}".repeat(3000) + "x" + "{% endfor %}".repeat(3000),
            "{{".repeat(50000),
            "{%".repeat(50000),
            "{{ '".repeat(30000),
            "{# ".repeat(50000),
            "{% raw %}".repeat(20000),
            "{% set ns = namespace(x=[]) %}{% for i in range(1000000) %}{% set ns.x = ns.x + [i] %}{% endfor %}{{ ns.x|length }}",
            "{% set d = {} %}{% for i in range(10000000) %}{% do d.update({i: i}) %}{% endfor %}",
            "{{ messages * 1000000000 }}",
            "{{ [messages] * 1000000000 }}",
            "{{ 'abc'|wordwrap(1)|wordwrap(1)|wordwrap(1) }}",
            "{{ (2 ** 1000000) }}",
            "{{ 10 ** 10 ** 10 }}",
            "{{ 'x' * (10 ** 10) }}",
            "{{ range(10000000)|join(',') }}",
            "{{ raise_exception('refused') }}",
            "{{ strftime_now('%s' * 100000) }}",
            "{{ messages|tojson(indent=1000000000) }}",
            "{{ messages|tojson(indent=-1) }}",
            "{{ 'x'|truncate(-1) }}",
            "{{ 'x'|indent(1000000000) }}",
            "{{ 'x' ~ 'y' * 99999999 }}",
            "{%- for x in 'x' * 10000000 -%}{%- endfor -%}",
            "{{ '%s' % ('x' * 100) * 100000000 }}",
            "{{ '{:>2000000000}'.format('x') }}",
            "{{ '%2000000000s'|format('x') }}",
            "{{ 'x'|center(2000000000) }}",
            "{{ 'x'|center('2000000000') }}",
            "{{ range(100)|batch(1000000000)|list }}",
            "{% set ns = namespace(x=[1]) %}{% for i in range(40) %}{% set ns.x = ns.x + ns.x %}{% endfor %}{{ ns.x|length }}",
            "{% set ns = namespace(x={}) %}{% for i in range(40) %}{% set ns.x = dict(ns.x, **ns.x) %}{% endfor %}",
            "{% for m in messages %}{{ m.content|render }}{% endfor %}",
            "{{ 'aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa!'|regex_replace('(a+)+$', 'x') }}",
            "{{ '!!python/object/apply:os.system [\"id\"]'|fromyaml }}",
            "{{ messages|pprint }}",
            "{{ messages[0]|attr('getClass') }}",
            "{{ messages|map(attribute='class')|list }}",
            "{% for m in messages %}{{ m.content }}{% endfor %}{{ '{{ 7 * 7 }}' }}");

    private void chatTemplates() {
        String c = "14-chat-template";
        for (int i = 0; i < HOSTILE_TEMPLATES.size(); i++) {
            String t = HOSTILE_TEMPLATES.get(i);
            add(c, "llama", "template-" + i, g -> g.put("tokenizer.chat_template", STRING, str(t)));
        }
        add(c, "llama", "template-1MiB", g -> g.put("tokenizer.chat_template", STRING, str("x".repeat(1 << 20))));
        add(c, "llama", "template-invalid-utf8", g -> g.put("tokenizer.chat_template", STRING, str(new byte[] {'{', '{', (byte) 0xC3, '}', '}'})));
    }

    // ---- helpers ----

    private static String archOf(GgufImage g) {
        return new String(Arrays.copyOfRange(g.kv("general.architecture").value, 8, g.kv("general.architecture").value.length),
                StandardCharsets.UTF_8);
    }

    private static boolean hasTensor(GgufImage g, String name) {
        return g.tensors.stream().anyMatch(t -> t.name().equals(name));
    }

    private static void patchLong(byte[] b, int at, long v) {
        ByteBuffer.wrap(b).order(ByteOrder.LITTLE_ENDIAN).putLong(at, v);
    }

    private static void patchInt(byte[] b, int at, int v) {
        ByteBuffer.wrap(b).order(ByteOrder.LITTLE_ENDIAN).putInt(at, v);
    }

    private static byte[] repeat(byte[] unit, int n) {
        ByteArrayOutputStream o = new ByteArrayOutputStream(unit.length * n);
        for (int i = 0; i < n; i++) o.writeBytes(unit);
        return o.toByteArray();
    }

    private static List<String> repeatList(String s, int n) {
        return java.util.Collections.nCopies(n, s);
    }

    private static byte[] filled(int n, int v) {
        byte[] b = new byte[n];
        Arrays.fill(b, (byte) v);
        return b;
    }

    private static void fillOnes(long[] dims) {
        for (int i = 0; i < dims.length; i++) if (dims[i] == 0) dims[i] = 1;
    }

    private static byte[] deepArray(int depth) {
        byte[] inner = array(UINT8, 0, new byte[0]);
        for (int i = 0; i < depth; i++) inner = array(ARRAY, 1, inner);
        return Arrays.copyOfRange(inner, 0, inner.length); // the key's value: element type ARRAY ... innermost UINT8[]
    }

    private static void setToken(GgufImage g, int id, String text) {
        setTokenBytes(g, id, text.getBytes(StandardCharsets.UTF_8));
    }

    private static void setTokenBytes(GgufImage g, int id, byte[] text) {
        Kv k = g.kv("tokenizer.ggml.tokens");
        ByteBuffer b = ByteBuffer.wrap(k.value).order(ByteOrder.LITTLE_ENDIAN);
        b.position(12);
        List<byte[]> items = new ArrayList<>();
        long n = arrayCount(k.value);
        for (long i = 0; i < n; i++) {
            byte[] s = new byte[(int) b.getLong()];
            b.get(s);
            items.add(s);
        }
        items.set(id, text);
        ByteArrayOutputStream o = new ByteArrayOutputStream();
        for (byte[] s : items) o.writeBytes(GgufImage.str(s));
        k.value = array(STRING, n, o.toByteArray());
    }

    private static void setType(GgufImage g, int id, int type) {
        Kv k = g.kv("tokenizer.ggml.token_type");
        patchInt(k.value, 12 + 4 * id, type);
    }

    /** Overwrites an F32 tensor's data with one value (the data array is copied first: bases share theirs). */
    private static void fillTensor(GgufImage g, String name, float v) {
        Tensor t = g.tensor(name);
        if (t.type != 0) throw new IllegalArgumentException(name + " is not F32");
        long n = 1;
        for (long d : t.dims) n *= d;
        g.data = g.data.clone();
        ByteBuffer b = ByteBuffer.wrap(g.data).order(ByteOrder.LITTLE_ENDIAN);
        for (long i = 0; i < n; i++) b.putFloat((int) (t.offset + 4 * i), v);
    }

    /** Renames every {arch}.* key to another architecture's prefix. */
    private static void renameArch(GgufImage g, String to) {
        String from = archOf(g);
        g.put("general.architecture", STRING, str(to));
        for (Kv k : g.kvs) {
            String key = k.key();
            if (key.startsWith(from + ".")) k.key = (to + key.substring(from.length())).getBytes(StandardCharsets.UTF_8);
        }
    }

    /** Lays the data section and offsets out for another alignment and records it in general.alignment. */
    private static void relayout(GgufImage g, int align) {
        g.put("general.alignment", UINT32, u32(align));
        ByteArrayOutputStream o = new ByteArrayOutputStream();
        List<Tensor> byOffset = new ArrayList<>(g.tensors);
        byOffset.sort(java.util.Comparator.comparingLong(t -> t.offset));
        byte[] old = g.data;
        long[] sizes = new long[byOffset.size()];
        for (int i = 0; i < byOffset.size(); i++) {
            long end = i + 1 < byOffset.size() ? byOffset.get(i + 1).offset : old.length;
            sizes[i] = end - byOffset.get(i).offset; // includes the old padding: harmless
        }
        for (int i = 0; i < byOffset.size(); i++) {
            Tensor t = byOffset.get(i);
            o.writeBytes(new byte[(align - o.size() % align) % align]);
            long at = o.size();
            o.write(old, (int) t.offset, (int) sizes[i]);
            t.offset = at;
        }
        g.data = o.toByteArray();
        g.padTo = align;
    }

    /** The llama base with a byte-level BPE (gpt2) vocabulary of the same size: 256 byte tokens, merges, an end token. */
    static GgufImage withBpeVocabulary(GgufImage g) {
        int n = (int) arrayCount(g.kv("tokenizer.ggml.tokens").value);
        List<String> tokens = new ArrayList<>();
        for (int b = 0; b < 256; b++) tokens.add(String.valueOf(byteChar(b)));
        List<String> merges = new ArrayList<>();
        String[] words = {"Ġt", "he", "Ġthe", "in", "er", "an", "Ġa", "on", "re", "at", "Ġw", "Ġs", "en", "Ġo", "is", "es",
                "or", "ll", "Ġh", "Ġb", "it", "Ġc", "ar", "Ġf", "ou", "Ġm", "ed", "Ġhe", "Ġhello", "Ġwor", "Ġworld", "lo",
                "hel", "hello", "Ġp", "ing", "Ġin", "Ġto", "Ġof", "Ġan", "Ġand", "nd"};
        for (String w : words) {
            if (tokens.contains(w)) continue;
            // split at the longest known prefix
            for (int cut = w.length() - 1; cut >= 1; cut--) {
                String l = w.substring(0, cut), r = w.substring(cut);
                if (tokens.contains(l) && tokens.contains(r)) {
                    merges.add(l + " " + r);
                    tokens.add(w);
                    break;
                }
            }
            if (tokens.size() == n - 1) break;
        }
        while (tokens.size() < n - 1) tokens.add("<|reserved_" + tokens.size() + "|>");
        tokens.add("<|endoftext|>");
        int[] types = new int[n];
        Arrays.fill(types, 1);
        for (int i = 0; i < n; i++) if (tokens.get(i).startsWith("<|")) types[i] = 3;
        ByteArrayOutputStream t = new ByteArrayOutputStream();
        for (int ty : types) t.writeBytes(u32(ty));
        g.put("tokenizer.ggml.model", STRING, str("gpt2"));
        g.put("tokenizer.ggml.pre", STRING, str("llama-bpe"));
        g.put("tokenizer.ggml.tokens", ARRAY, strings(tokens));
        g.put("tokenizer.ggml.token_type", ARRAY, array(INT32, n, t.toByteArray()));
        g.put("tokenizer.ggml.merges", ARRAY, strings(merges));
        g.put("tokenizer.ggml.bos_token_id", UINT32, u32(n - 1));
        g.put("tokenizer.ggml.eos_token_id", UINT32, u32(n - 1));
        g.remove("tokenizer.ggml.unknown_token_id");
        g.put("tokenizer.ggml.add_bos_token", BOOL, new byte[] {0});
        g.put("tokenizer.chat_template", STRING, str("{% for m in messages %}<|im_start|>{{ m.role }}\n{{ m.content }}<|im_end|>\n{% endfor %}"));
        return g;
    }

    private static char byteChar(int b) {
        int n = 0;
        for (int x = 0; x < 256; x++) {
            boolean printable = (x >= 0x21 && x <= 0x7E) || (x >= 0xA1 && x <= 0xAC) || (x >= 0xAE && x <= 0xFF);
            char c = printable ? (char) x : (char) (256 + n++);
            if (x == b) return c;
        }
        throw new AssertionError();
    }
}
