package dev.panamax.tokenizer;

import java.io.ByteArrayOutputStream;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;

/**
 * The vocabulary side of llama.cpp's {@code llama_vocab}: defaults and token attributes resolved as in {@code
 * llama_vocab::impl::load}, user-defined tokens split out of the text before the model tokenizer runs ({@code
 * tokenizer_st_partition} with parse_special=false), BOS/EOS placement, pieces and detokenization. The text
 * fragments between them go to {@link SpmModel} or {@link BpeModel}.
 */
final class GgmlTokenizer implements Tokenizer {

    // llama_token_attr bits
    static final int ATTR_UNDEFINED = 0;
    static final int ATTR_UNKNOWN = 1 << 0;
    static final int ATTR_UNUSED = 1 << 1;
    static final int ATTR_NORMAL = 1 << 2;
    static final int ATTR_CONTROL = 1 << 3;
    static final int ATTR_USER_DEFINED = 1 << 4;
    static final int ATTR_BYTE = 1 << 5;
    static final int ATTR_LSTRIP = 1 << 7;
    static final int ATTR_RSTRIP = 1 << 8;

    /** End-of-generation tokens llama.cpp recognizes by their text (llama-vocab.cpp, special_eog_ids). */
    private static final Set<String> EOG_TEXTS = Set.of("<|eot_id|>", "<|im_end|>", "<|end|>", "<|return|>",
            "<|call|>", "<|flush|>", "<|calls|>", "<end_of_turn>", "<|endoftext|>", "</s>", "<|eom_id|>", "<EOT>",
            "_<EOT>", "[EOT]", "[EOS]", "<|end_of_text|>", "<end_of_utterance>", "<eos>", "<turn|>",
            "<|tool_response>", "<｜end▁of▁sentence｜>", "[e~[");
    /** FIM pad/repo/separator tokens, also end-of-generation in llama.cpp. */
    private static final Set<String> FIM_EOG_TEXTS = Set.of("<|fim_pad|>", "<fim-pad>", "<fim_pad>", "<PAD>",
            "[PAD]", "<|fim_repo|>", "<|repo_name|>", "<fim-repo>", "<REPO>", "<reponame>", "<|file_sep|>");
    /** FIM prefix/suffix/middle tokens: llama.cpp forces them to control type. */
    private static final Set<String> FIM_TEXTS = Set.of("<|fim_prefix|>", "<fim-prefix>", "<fim_prefix>",
            "<｜fim▁begin｜>", "<PRE>", "▁<PRE>", "<|code_prefix|>", "<|prefix|>", "<|fim_suffix|>", "<fim-suffix>",
            "<fim_suffix>", "<｜fim▁hole｜>", "<SUF>", "▁<SUF>", "<|code_suffix|>", "<|suffix|>", "<|fim_middle|>",
            "<fim-middle>", "<fim_middle>", "<｜fim▁end｜>", "<MID>", "▁<MID>", "<|code_middle|>", "<|middle|>");

    final boolean spm;
    final boolean wpm;
    final String[] texts;
    final float[] scores;
    final int[] attrs;
    final Map<String, Integer> textToId;
    private final int bos;
    private final int eos;
    private final int unk;
    private final int sep;
    private final boolean addSep;
    private final boolean addBos;
    private final boolean addEos;
    private final boolean addSpacePrefix;
    private final boolean cleanSpaces;
    private final java.util.BitSet eog = new java.util.BitSet(); // a set of ids without boxing: isEog is per token
    /** User-defined tokens, longest first: the only special tokens split out when parse_special is false. */
    private final int[] userDefined;
    /** Control, user-defined and unknown tokens, longest first: split out when parse_special is true. */
    private final int[] specialTokens;
    private final byte[][] pieces;
    private final SpmModel spmModel;
    private final BpeModel bpeModel;
    private final WpmModel wpmModel;

    GgmlTokenizer(Vocabulary v) {
        int n = v.size();
        texts = v.tokens().clone();
        textToId = new HashMap<>(n * 2);
        scores = new float[n];
        attrs = new int[n];
        for (int i = 0; i < n; i++) {
            if (texts[i].isEmpty()) {
                texts[i] = "[EMPTY_" + i + "]"; // as llama.cpp: an empty token would match everywhere
            }
            textToId.put(texts[i], i); // a repeated text maps to its last id, as llama.cpp's token_to_id
            scores[i] = v.scores() == null ? 0f : v.scores()[i];
            attrs[i] = v.tokenTypes() == null ? ATTR_NORMAL : attrOfType(v.tokenTypes()[i]);
        }

        int defBos;
        int defEos;
        int defUnk;
        boolean defAddBos;
        boolean defAddSpacePrefix;
        boolean clean;
        PreTokenizer.Config pre = null;
        boolean isWpm = false;
        switch (v.model()) {
            case "llama" -> {
                spm = true;
                defBos = 1;
                defEos = 2;
                defUnk = 0;
                defAddBos = true;
                defAddSpacePrefix = true;
                clean = false;
            }
            case "gpt2" -> {
                spm = false;
                if (v.merges() == null) {
                    throw new IllegalArgumentException("tokenizer.ggml.merges is missing (required for model 'gpt2')");
                }
                pre = PreTokenizer.forName(v.pre());
                defBos = 11;
                defEos = 11;
                defUnk = Vocabulary.NONE;
                defAddBos = pre.addBos();
                defAddSpacePrefix = false;
                clean = pre.cleanSpaces();
            }
            case "bert" -> { // WordPiece: [CLS] text [SEP], llama.cpp's defaults for its ids
                spm = false;
                isWpm = true;
                defBos = 101;
                defEos = Vocabulary.NONE;
                defUnk = 100;
                defAddBos = true;
                defAddSpacePrefix = false;
                clean = true;
            }
            default -> throw new IllegalArgumentException("unsupported tokenizer model tokenizer.ggml.model='"
                    + v.model() + "' (supported: llama, gpt2, bert)");
        }
        wpm = isWpm;
        sep = specialId(v.sep(), wpm ? 102 : Vocabulary.NONE, n);
        addSep = v.addSep() != null ? v.addSep() : wpm;
        bos = specialId(v.bos(), defBos, n);
        eos = specialId(v.eos(), defEos, n);
        unk = specialId(v.unk(), defUnk, n);
        int eot = specialId(v.eot(), Vocabulary.NONE, n);
        int eom = specialId(v.eom(), Vocabulary.NONE, n);
        addBos = v.addBos() != null ? v.addBos() : defAddBos;
        addEos = v.addEos() != null ? v.addEos() : false;
        addSpacePrefix = v.addSpacePrefix() != null ? v.addSpacePrefix() : defAddSpacePrefix;
        cleanSpaces = clean;
        if (addBos && bos == Vocabulary.NONE) {
            throw new IllegalArgumentException("the vocabulary asks for BOS but has no BOS token");
        }
        if (addEos && eos == Vocabulary.NONE) {
            throw new IllegalArgumentException("the vocabulary asks for EOS but has no EOS token");
        }

        // end-of-generation set and the control attribute llama.cpp forces on end/FIM tokens found by text
        for (int i = 0; i < n; i++) {
            String t = texts[i];
            if (EOG_TEXTS.contains(t) || FIM_EOG_TEXTS.contains(t)) {
                eog.set(i);
                attrs[i] |= ATTR_CONTROL;
            } else if (FIM_TEXTS.contains(t)) {
                attrs[i] |= ATTR_CONTROL;
            }
        }
        for (int id : new int[] {eos, eot, eom}) {
            if (id != Vocabulary.NONE) {
                eog.set(id);
            }
        }
        // o200k_harmony / solar-open: "<|end|>" ends a message, not the generation, when these are present
        Integer end = textToId.get("<|end|>");
        if (end != null && eog.get(end)
                && ((textToId.containsKey("<|return|>") && textToId.containsKey("<|call|>"))
                || (textToId.containsKey("<|calls|>") && textToId.containsKey("<|flush|>")))) {
            eog.clear(end);
            attrs[end] = ATTR_USER_DEFINED;
        }
        for (String t : new String[] {"<|channel|>", "<|message|>", "<|start|>", "<|constrain|>"}) {
            Integer id = textToId.get(t);
            if (id != null) {
                attrs[id] = ATTR_USER_DEFINED; // gpt-oss: llama.cpp always renders these
            }
        }
        // Phi-3: special tokens eat the whitespace after them (llama.cpp keys this on general.name)
        String name = v.modelName() == null ? "" : v.modelName().toLowerCase(java.util.Locale.ROOT);
        if (name.contains("phi-3") || name.contains("phi3")) {
            for (int i = 0; i < n; i++) {
                if ((attrs[i] & (ATTR_CONTROL | ATTR_USER_DEFINED | ATTR_UNKNOWN)) != 0) {
                    attrs[i] |= ATTR_RSTRIP;
                }
            }
            setAttr("</s>", ATTR_RSTRIP, true);
            for (String t : new String[] {"<unk>", "<s>", "<|endoftext|>"}) {
                setAttr(t, ATTR_RSTRIP, false);
            }
        }

        List<Integer> ud = new ArrayList<>();
        for (int i = 0; i < n; i++) {
            if ((attrs[i] & ATTR_USER_DEFINED) != 0 && (attrs[i] & (ATTR_CONTROL | ATTR_UNKNOWN)) == 0) {
                ud.add(i);
            }
        }
        ud.sort((a, b) -> Integer.compare(utf8Length(texts[b]), utf8Length(texts[a])));
        userDefined = ud.stream().mapToInt(Integer::intValue).toArray();
        List<Integer> st = new ArrayList<>();
        for (int i = 0; i < n; i++) {
            if ((attrs[i] & (ATTR_CONTROL | ATTR_USER_DEFINED | ATTR_UNKNOWN)) != 0) {
                st.add(i);
            }
        }
        st.sort((a, b) -> Integer.compare(utf8Length(texts[b]), utf8Length(texts[a])));
        specialTokens = st.stream().mapToInt(Integer::intValue).toArray();

        if (wpm) {
            if (unk == Vocabulary.NONE || bos == Vocabulary.NONE || sep == Vocabulary.NONE) {
                throw new IllegalArgumentException("a WordPiece vocabulary needs [UNK], [CLS] and [SEP] tokens");
            }
            boolean lower = v.lowercase() != null ? v.lowercase() : true;
            spmModel = null;
            bpeModel = null;
            wpmModel = new WpmModel(this, lower, v.stripAccents() != null ? v.stripAccents() : lower,
                    Vocabulary.WORDPIECE_HUGGING_FACE.equals(v.wordPieceRules()),
                    v.wordPieceMaxChars() > 0 ? v.wordPieceMaxChars() : 100);
        } else if (spm) {
            spmModel = new SpmModel(this);
            bpeModel = null;
            wpmModel = null;
        } else {
            wpmModel = null;
            spmModel = null;
            bpeModel = new BpeModel(this, v.merges(), pre);
        }
        pieces = new byte[n][];
        for (int i = 0; i < n; i++) {
            pieces[i] = piece(i);
        }
    }

    private void setAttr(String text, int attr, boolean value) {
        Integer id = textToId.get(text);
        if (id != null) {
            attrs[id] = value ? attrs[id] | attr : attrs[id] & ~attr;
        }
    }

    private static int attrOfType(int type) {
        return switch (type) {
            case Vocabulary.TYPE_UNKNOWN -> ATTR_UNKNOWN;
            case Vocabulary.TYPE_UNUSED -> ATTR_UNUSED;
            case Vocabulary.TYPE_NORMAL -> ATTR_NORMAL;
            case Vocabulary.TYPE_CONTROL -> ATTR_CONTROL;
            case Vocabulary.TYPE_USER_DEFINED -> ATTR_USER_DEFINED;
            case Vocabulary.TYPE_BYTE -> ATTR_BYTE;
            default -> ATTR_UNDEFINED;
        };
    }

    /** llama.cpp: an id from the metadata replaces the default when in range; a default out of range is dropped. */
    private static int specialId(int fromMetadata, int dflt, int n) {
        if (fromMetadata >= 0 && fromMetadata < n) {
            return fromMetadata;
        }
        return dflt >= 0 && dflt < n ? dflt : Vocabulary.NONE;
    }

    static int utf8Length(String s) {
        return s.getBytes(StandardCharsets.UTF_8).length;
    }

    /** The id of a token text, or -1. */
    int id(String text) {
        Integer id = textToId.get(text);
        return id == null ? -1 : id;
    }

    int unk() {
        return unk;
    }

    // ---- encode ----

    @Override
    public int[] encode(String text, boolean addSpecial) {
        return encode(text, addSpecial, false);
    }

    @Override
    public int[] encode(String text, boolean addSpecial, boolean parseSpecial) {
        if (text == null) {
            throw new IllegalArgumentException("text is null");
        }
        // one pass through UTF-8 so that unpaired surrogates become '?' as the bytes llama.cpp would receive
        byte[] utf8 = text.getBytes(StandardCharsets.UTF_8);
        List<Object> fragments = partition(utf8, parseSpecial ? specialTokens : userDefined);
        PreTokenizer.IntList out = new PreTokenizer.IntList();
        if (wpm) { // llama.cpp's WPM branch: [CLS] and [SEP] whenever add_special, whatever add_bos says
            if (addSpecial) {
                out.add(bos);
            }
            for (Object f : fragments) {
                if (f instanceof String s) {
                    wpmModel.tokenize(s, out);
                } else {
                    out.add((Integer) f);
                }
            }
            if (addSpecial) {
                out.add(sep);
            }
        } else if (spm) {
            boolean prevSpecial = true; // a space prefix goes at the start and after every special token
            if (addSpecial && addBos) {
                out.add(bos);
            }
            for (Object f : fragments) {
                if (f instanceof String s) {
                    String t = addSpacePrefix && prevSpecial ? " " + s : s;
                    spmModel.tokenize(t.replace(" ", "\u2581"), out);
                    prevSpecial = false;
                } else {
                    out.add((Integer) f);
                    prevSpecial = true;
                }
            }
            if (addSpecial && addEos) {
                out.add(eos);
            }
        } else {
            if (addSpecial && addBos) {
                out.add(bos);
            }
            for (Object f : fragments) {
                if (f instanceof String s) {
                    bpeModel.tokenize(s, out);
                } else {
                    out.add((Integer) f);
                }
            }
            if (addSpecial && addEos) {
                out.add(eos);
            }
        }
        return out.toArray();
    }

    /**
     * tokenizer_st_partition: special tokens, longest first, are cut out of the raw text (byte-wise search, as
     * llama.cpp), honoring their lstrip/rstrip attributes: only user-defined tokens when parse_special is false, every
     * control, user-defined and unknown token when it is true. Returns Strings and Integer ids.
     */
    private List<Object> partition(byte[] utf8, int[] specials) {
        List<Object> frags = new ArrayList<>();
        if (utf8.length == 0) {
            return frags;
        }
        // raw fragments as [offset, length] over utf8; tokens as Integer
        List<Object> buf = new ArrayList<>();
        buf.add(new int[] {0, utf8.length});
        for (int id : specials) {
            byte[] tok = texts[id].getBytes(StandardCharsets.UTF_8);
            List<Object> next = new ArrayList<>(buf.size() + 4);
            for (Object f : buf) {
                if (!(f instanceof int[] r)) {
                    next.add(f);
                    continue;
                }
                int off = r[0];
                int len = r[1];
                while (true) {
                    int match = indexOf(utf8, tok, off, off + len);
                    if (match < 0) {
                        next.add(new int[] {off, len});
                        break;
                    }
                    int leftLen = match - off;
                    if ((attrs[id] & ATTR_LSTRIP) != 0) {
                        while (leftLen > 0 && isSpace(utf8[off + leftLen - 1])) {
                            leftLen--;
                        }
                    }
                    if (leftLen > 0) {
                        next.add(new int[] {off, leftLen});
                    }
                    next.add(id);
                    int rOff = match + tok.length;
                    int rLen = off + len - rOff;
                    if ((attrs[id] & ATTR_RSTRIP) != 0) {
                        while (rLen > 0 && isSpace(utf8[rOff])) {
                            rOff++;
                            rLen--;
                        }
                    }
                    if (rLen <= 0) {
                        break;
                    }
                    off = rOff;
                    len = rLen;
                }
            }
            buf = next;
        }
        for (Object f : buf) {
            if (f instanceof int[] r) {
                frags.add(new String(utf8, r[0], r[1], StandardCharsets.UTF_8));
            } else {
                frags.add(f);
            }
        }
        return frags;
    }

    private static boolean isSpace(byte b) {
        return b == ' ' || (b >= 0x09 && b <= 0x0D);
    }

    private static int indexOf(byte[] hay, byte[] needle, int from, int to) {
        outer:
        for (int i = from; i + needle.length <= to; i++) {
            for (int j = 0; j < needle.length; j++) {
                if (hay[i + j] != needle[j]) {
                    continue outer;
                }
            }
            return i;
        }
        return -1;
    }

    // ---- decode ----

    private byte[] piece(int id) {
        int a = attrs[id];
        String t = texts[id];
        if ((a & (ATTR_UNKNOWN | ATTR_CONTROL)) != 0) {
            return new byte[0]; // special=false
        }
        if ((a & ATTR_USER_DEFINED) != 0) {
            return t.getBytes(StandardCharsets.UTF_8);
        }
        if ((a & ATTR_NORMAL) != 0) {
            return spm || wpm ? t.replace("\u2581", " ").getBytes(StandardCharsets.UTF_8) : BpeModel.decodeText(t);
        }
        if ((a & ATTR_BYTE) != 0) {
            return new byte[] {(byte) byteValue(t)};
        }
        return new byte[0];
    }

    /** The byte of a {@code <0xNN>} token; llama.cpp reads characters 3 and 4 as hex. */
    private static int byteValue(String t) {
        if (t.length() >= 5) {
            try {
                return Integer.parseInt(t.substring(3, 5), 16);
            } catch (NumberFormatException e) {
                // fall through
            }
        }
        throw new IllegalArgumentException("byte token '" + t + "' is not of the form <0xNN>");
    }

    private void checkId(int id) {
        if (id < 0 || id >= texts.length) {
            throw new IllegalArgumentException("token id " + id + " outside [0, " + texts.length + ")");
        }
    }

    @Override
    public byte[] tokenBytes(int id) {
        checkId(id);
        return pieces[id].clone();
    }

    @Override
    public byte[] tokenBytes(int id, boolean special) {
        checkId(id);
        if (special && (attrs[id] & (ATTR_UNKNOWN | ATTR_CONTROL | ATTR_USER_DEFINED)) != 0) {
            return texts[id].getBytes(StandardCharsets.UTF_8);
        }
        return pieces[id].clone();
    }

    @Override
    public String tokenString(int id) {
        checkId(id);
        return texts[id];
    }

    @Override
    public String tokenText(int id) {
        checkId(id);
        return new String(pieces[id], StandardCharsets.UTF_8);
    }

    @Override
    public String decode(int[] ids) {
        ByteArrayOutputStream out = new ByteArrayOutputStream();
        boolean removeSpace = addSpacePrefix;
        for (int id : ids) {
            checkId(id);
            byte[] p = pieces[id];
            int from = 0;
            if (removeSpace && p.length > 0 && p[0] == ' ') {
                from = 1;
            }
            removeSpace = false; // llama.cpp clears it after the first token, even an empty one
            out.write(p, from, p.length - from);
        }
        byte[] b = out.toByteArray();
        if (cleanSpaces) {
            b = cleanUp(b);
        }
        return new String(b, StandardCharsets.UTF_8);
    }

    /** llama_detokenize's clean_spaces passes: " ?" " !" " ." " ,", " ' ", and " 's" " 'm" " 're" " 've". */
    private static byte[] cleanUp(byte[] text) {
        int total = text.length;
        byte[] t = text.clone();
        int n1 = total;
        total = total > 0 ? 1 : 0;
        for (int i = 1; i < n1; i++) {
            byte x = t[i];
            if (t[i - 1] == ' ' && (x == '?' || x == '!' || x == '.' || x == ',')) {
                total--;
            }
            t[total++] = x;
        }
        int n2 = total;
        total = total > 0 ? 1 : 0;
        for (int i = 1; i < n2; i++) {
            byte x = t[i];
            if (x == '\'' && i + 1 < n2 && t[i - 1] == ' ' && t[i + 1] == ' ') {
                total--;
                t[++i] = 0;
            }
            t[total++] = x;
        }
        int n3 = total;
        total = total > 0 ? 1 : 0;
        for (int i = 1; i < n3; i++) {
            byte x = t[i];
            if (t[i - 1] == ' ' && x == '\'' && i + 1 < n3) {
                byte x1 = t[i + 1];
                if (x1 == 's' || x1 == 'm') {
                    total--;
                } else if (i + 2 < n3) {
                    byte x2 = t[i + 2];
                    if ((x1 == 'r' && x2 == 'e') || (x1 == 'v' && x2 == 'e')) {
                        total--;
                    }
                }
            }
            t[total++] = x;
        }
        return Arrays.copyOf(t, total);
    }

    @Override
    public boolean addsBos() {
        return addBos;
    }

    @Override
    public boolean addsEos() {
        return addEos;
    }

    @Override
    public int sep() {
        return sep;
    }

    @Override
    public boolean addsSep() {
        return addSep;
    }

    @Override
    public int bos() {
        return bos;
    }

    @Override
    public int eos() {
        return eos;
    }

    @Override
    public boolean isEog(int id) {
        return id >= 0 && eog.get(id);
    }

    @Override
    public int vocabSize() {
        return texts.length;
    }
}
