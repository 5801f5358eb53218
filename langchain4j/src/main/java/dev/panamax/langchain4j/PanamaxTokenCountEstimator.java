package dev.panamax.langchain4j;

import dev.langchain4j.data.message.ChatMessage;
import dev.langchain4j.model.TokenCountEstimator;
import dev.panamax.Engine;
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
    private final Engine engine;

    public PanamaxTokenCountEstimator(Engine engine) {
        this.engine = Objects.requireNonNull(engine, "engine");
    }

    @Override
    public int estimateTokenCountInText(String text) {
        return engine.model().tokenizer().encode(text, false, false).length;
    }

    @Override
    public int estimateTokenCountInMessage(ChatMessage message) {
        return estimateTokenCountInMessages(List.of(message));
    }

    @Override
    public int estimateTokenCountInMessages(Iterable<ChatMessage> messages) {
        List<ChatMessage> list = new ArrayList<>();
        messages.forEach(list::add);
        ChatTemplate t = Conversation.template(engine);
        try {
            return t.tokenize(t.render(Conversation.messages(list), false), engine.model().tokenizer()).length;
        } catch (ChatTemplateException e) {
            int n = 0;
            for (var m : Conversation.messages(list)) n += estimateTokenCountInText(m.content());
            return n;
        }
    }
}
