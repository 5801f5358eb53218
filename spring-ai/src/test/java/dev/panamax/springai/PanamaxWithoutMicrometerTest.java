package dev.panamax.springai;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.panamax.Engine;
import dev.panamax.model.TinyModels;
import dev.panamax.springai.autoconfigure.PanamaxAutoConfiguration;
import java.lang.reflect.Method;
import java.lang.reflect.Type;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.stream.Stream;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.springframework.ai.chat.prompt.Prompt;
import org.springframework.boot.autoconfigure.AutoConfigurations;
import org.springframework.boot.test.context.FilteredClassLoader;
import org.springframework.boot.test.context.runner.ApplicationContextRunner;

/**
 * The starter in an application without Micrometer: the engine and the chat model are configured, no meters; the
 * configuration's own bean methods name no Micrometer type (the meters live in a nested configuration that is only
 * read when Micrometer is on the class path), so their introspection cannot fail for a missing class.
 */
class PanamaxWithoutMicrometerTest {
    @TempDir
    Path dir;

    @Test
    void startsWithoutMicrometerAndMakesNoMeters() throws Exception {
        Path m = TinyModels.writeNeverEnding(Files.createDirectories(dir), 512);
        new ApplicationContextRunner()
                .withConfiguration(AutoConfigurations.of(PanamaxAutoConfiguration.class))
                .withClassLoader(new FilteredClassLoader("io.micrometer"))
                .withPropertyValues("panamax.model=" + m, "panamax.threads=1", "panamax.context=512", "panamax.parallel=1")
                .run(ctx -> {
                    assertNull(ctx.getStartupFailure(), () -> "context failed: " + ctx.getStartupFailure());
                    assertTrue(ctx.getBeansOfType(Engine.class).size() == 1, "the engine");
                    assertFalse(ctx.containsBean("panamaxMeters"), "no meters without Micrometer");
                    PanamaxChatModel chat = ctx.getBean(PanamaxChatModel.class);
                    var options = PanamaxChatOptions.builder().temperature(0.0).maxTokens(3).build();
                    assertEquals(3, chat.call(new Prompt("hello", options)).getMetadata().getUsage().getCompletionTokens());
                });
    }

    @Test
    void outerBeanMethodsNameNoMicrometerType() {
        for (Method method : PanamaxAutoConfiguration.class.getDeclaredMethods()) {
            Stream<Type> types = Stream.concat(Stream.of(method.getGenericReturnType()), Arrays.stream(method.getGenericParameterTypes()));
            types.forEach(t -> assertFalse(t.getTypeName().contains("micrometer") || t.getTypeName().contains("EngineMeters"),
                    method + " names " + t.getTypeName()));
        }
    }
}
