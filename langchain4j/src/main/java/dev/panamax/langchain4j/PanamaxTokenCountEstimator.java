package dev.panamax.langchain4j;

import dev.langchain4j.data.message.ChatMessage;
import dev.langchain4j.model.TokenCountEstimator;
import dev.panamax.Engine;
import dev.panamax.Model;
import dev.panamax.tokenizer.ChatTemplate;
import dev.panamax.tokenizer.ChatTemplateException;
import java.util.ArrayList;
import java.util.List;
import java.util.Objects;

/**
 * Exact token counts with the model's own tokenizer: a text as the model reads it (no BOS), messages as the chat
 * template renders them (role markers included; a message the template will not render alone, e.g. an assistant turn
 * first, counts its text plus nothing else).
 */
public class PanamaxTokenCountEstimator implements TokenCountEstimator {
    private final Model model;

    public PanamaxTokenCountEstimator(Engine engine) {
        this(Objects.requireNonNull(engine, "engine").model());
    }

    /** On a model without an engine, e.g. an embedding model (bert): texts count as {@link #estimateTokenCountInText}. */
    public PanamaxTokenCountEstimator(Model model) {
        this.model = Objects.requireNonNull(model, "model");
    }

    @Override
    public int estimateTokenCountInText(String text) {
        return model.tokenizer().encode(text, false, false).length;
    }

    @Override
    public int estimateTokenCountInMessage(ChatMessage message) {
        return estimateTokenCountInMessages(List.of(message));
    }

    @Override
    public int estimateTokenCountInMessages(Iterable<ChatMessage> messages) {
        List<ChatMessage> list = new ArrayList<>();
        messages.forEach(list::add);
        ChatTemplate t = Conversation.template(model);
        try {
            return t.tokenize(t.render(Conversation.messages(list), false), model.tokenizer()).length;
        } catch (ChatTemplateException e) {
            int n = 0;
            for (var m : Conversation.messages(list)) n += estimateTokenCountInText(m.content());
            return n;
        }
    }
}
