package dev.panamax.spark;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import dev.panamax.Generation;
import dev.panamax.Model;
import dev.panamax.Session;
import dev.panamax.sampling.SamplingParams;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import org.apache.spark.sql.Dataset;
import org.apache.spark.sql.Row;
import org.apache.spark.sql.RowFactory;
import org.apache.spark.sql.SparkSession;
import org.apache.spark.sql.types.DataTypes;
import org.apache.spark.sql.types.StructType;
import org.junit.jupiter.api.Test;

/** The JSON-schema option: the struct type a schema gets, the errors at build time, and rows parsed in local[2]. */
class JsonSchemaColumnTest {
    static final ObjectMapper JSON = new ObjectMapper();
    static final String PERSON = """
            {"type": "object", "title": "person",
             "properties": {
               "name": {"type": "string", "maxLength": 6},
               "age": {"type": "integer", "minimum": 0, "maximum": 99},
               "score": {"type": ["number", "null"]},
               "ok": {"type": "boolean"},
               "tags": {"type": "array", "items": {"type": "string", "enum": ["a", "b"]}, "maxItems": 2},
               "pet": {"type": "object", "properties": {"kind": {"enum": ["cat", "dog"]}, "legs": {"const": 4}},
                       "required": ["kind", "legs"], "additionalProperties": false}},
             "required": ["name", "age", "score", "ok", "tags", "pet"], "additionalProperties": false}""";

    /** A smaller schema for the generating test (the random model writes much whitespace between properties). */
    static final String PET = """
            {"type": "object",
             "properties": {
               "age": {"type": "integer", "minimum": 0, "maximum": 99},
               "ok": {"type": "boolean"},
               "tags": {"type": "array", "items": {"enum": ["a", "b"]}, "maxItems": 1},
               "pet": {"type": "object", "properties": {"kind": {"enum": ["cat", "dog"]}}, "required": ["kind"]}},
             "required": ["age", "ok", "tags", "pet"], "additionalProperties": false}""";

    @Test
    void aSchemaHasTheStructTypeOfItsObjects() {
        StructType pet = new StructType().add("kind", DataTypes.StringType).add("legs", DataTypes.LongType);
        StructType expected = new StructType().add("name", DataTypes.StringType).add("age", DataTypes.LongType)
                .add("score", DataTypes.DoubleType).add("ok", DataTypes.BooleanType)
                .add("tags", DataTypes.createArrayType(DataTypes.StringType, true)).add("pet", pet);
        assertEquals(expected, JsonSchemaColumn.structType(PERSON));
        assertEquals(new StructType().add("x", DataTypes.DoubleType),
                JsonSchemaColumn.structType("{\"type\":\"object\",\"properties\":{\"x\":{\"enum\":[1, 2.5, null]}}}"));

        Row r = JsonSchemaColumn.parse("{\"name\":\"al\",\"age\":7,\"score\":null,\"ok\":true,\"tags\":[\"a\",\"b\"],"
                + "\"pet\":{\"kind\":\"cat\",\"legs\":4}}", expected);
        assertEquals("al", r.getString(0));
        assertEquals(7L, r.getLong(1));
        assertTrue(r.isNullAt(2));
        assertEquals(true, r.getBoolean(3));
        assertArrayEquals(new Object[] {"a", "b"}, (Object[]) r.get(4));
        assertEquals(RowFactory.create("cat", 4L), r.get(5));
        Row partial = JsonSchemaColumn.parse("{\"name\":\"al\"}", expected);
        assertTrue(partial.isNullAt(1) && partial.isNullAt(5), "a property that is absent is null");
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
                () -> JsonSchemaColumn.parse("{\"name\":\"al\",\"pet\":{\"legs\":2.5}}", expected));
        assertTrue(e.getMessage().contains("$.pet.legs is not an integer"), e.getMessage());
        assertThrows(IllegalArgumentException.class, () -> JsonSchemaColumn.parse("{\"name\":", expected));
    }

    @Test
    void aSchemaWithoutASingleSparkTypeFailsWhenTheJobIsBuilt() {
        GenerationSpec spec = GenerationSpec.of("m.gguf");
        String[][] cases = {
                {"{\"type\":\"string\"}", "at # must describe an object"},
                {"{\"type\":\"object\"}", "at #: an object needs 'properties'"},
                {"{\"type\":\"object\",\"properties\":{\"a\":{\"anyOf\":[{\"type\":\"string\"},{\"type\":\"integer\"}]}}}",
                        "at #/properties/a: 'anyOf' has no single Spark type"},
                {"{\"type\":\"object\",\"properties\":{\"a\":{\"$ref\":\"#/$defs/b\"}},\"$defs\":{\"b\":{\"type\":\"string\"}}}",
                        "'$ref' has no single Spark type"},
                {"{\"type\":\"object\",\"properties\":{\"a\":{\"type\":\"array\",\"items\":{\"type\":\"object\","
                        + "\"properties\":{\"b\":{\"type\":[\"string\",\"integer\"]}}}}}}", "at #/properties/a/items/properties/b: type"},
                {"{\"type\":\"object\",\"properties\":{\"a\":{\"type\":\"array\"}}}", "an array needs 'items'"},
                {"{\"type\":\"object\",\"properties\":{\"a\":{\"type\":\"string\"}},\"additionalProperties\":true}",
                        "'additionalProperties' other than false"},
                {"{\"type\":\"object\",\"properties\":{\"a\":{\"enum\":[\"x\", 1]}}}", "enum/const values of different types"},
                {"{\"type\":\"object\",\"properties\":{\"a\":{\"type\":\"string\",\"uniqueItems\":true}}}",
                        "cannot be used for constrained generation"}, // the grammar converter's refusal
                {"{\"type\":", "not valid JSON"},
        };
        for (String[] c : cases) {
            IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> spec.withJsonSchema(c[0]), c[0]);
            assertTrue(e.getMessage().contains(c[1]), c[0] + " -> " + e.getMessage());
        }
        StructType in = new StructType().add("prompt", DataTypes.StringType).add("parsed", DataTypes.StringType);
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
                () -> PanamaxSpark.outputSchema(in, spec.withJsonSchema(PERSON)));
        assertTrue(e.getMessage().contains("already has a column 'parsed'"), e.getMessage());
        assertEquals(JsonSchemaColumn.structType(PERSON),
                PanamaxSpark.outputSchema(in, spec.withJsonSchema(PERSON, "person")).apply("person").dataType());
        assertEquals(spec.withJsonSchema(PERSON, "p"),
                new PanamaxGenerator().setModelPath("m.gguf").setJsonSchema(PERSON).setJsonCol("p").spec());
    }

    @Test
    void rowsComeBackParsedIntoTheStructColumn() throws Exception {
        SparkSession spark = TestSpark.local();
        Path model = TestSpark.neverEnding();
        List<String> prompts = PanamaxSparkTest.prompts(2); // ~150-250 constrained tokens each: the suite's time
        List<Row> rows = new ArrayList<>();
        for (int i = 0; i < prompts.size(); i++) rows.add(RowFactory.create((long) i, prompts.get(i)));
        StructType schema = new StructType().add("id", DataTypes.LongType).add("prompt", DataTypes.StringType);
        Dataset<Row> in = spark.createDataFrame(rows, schema).repartition(2);
        GenerationSpec spec = GenerationSpec.of(model.toString()).withMaxTokens(300).withParallel(4).withJsonSchema(PET);
        List<Row> out = PanamaxSpark.generate(in, spec).collectAsList();
        assertEquals(prompts.size(), out.size());
        List<Row> cut = PanamaxSpark.generate(in, spec.withMaxTokens(6)).collectAsList();
        int parsed = 0;
        try (Model m = Model.load(model, Model.Options.defaults().withThreads(1))) {
            SamplingParams constrained = SamplingParams.greedy().withGrammar(JsonSchemaColumn.grammar(PET));
            for (Row r : out) {
                String prompt = prompts.get((int) r.getLong(0));
                Generation alone;
                try (Session s = m.newSession()) {
                    alone = s.generate(prompt, 300, constrained, null);
                }
                assertEquals(alone.text(), r.getAs("completion"), prompt);
                if (alone.stop() != Generation.StopReason.END_OF_GENERATION) {
                    assertTrue(r.<String>getAs("error").contains("before its JSON value was complete"), r.<String>getAs("error"));
                    continue;
                }
                parsed++;
                assertNull(r.getAs("error"), prompt);
                JsonNode j = JSON.readTree(alone.text());
                Row p = r.getAs("parsed");
                assertEquals(j.get("age").asLong(), (long) p.getAs("age"));
                assertEquals(j.get("ok").asBoolean(), p.getAs("ok"));
                List<Object> tags = p.getList(p.fieldIndex("tags"));
                assertEquals(j.get("tags").size(), tags.size());
                for (int i = 0; i < tags.size(); i++) assertEquals(j.get("tags").get(i).asText(), tags.get(i));
                Row pet = p.getAs("pet");
                assertEquals(j.get("pet").get("kind").asText(), pet.getAs("kind"));
            }
        }
        assertTrue(parsed >= 1, parsed + " of " + prompts.size() + " rows completed their JSON in 300 tokens");
        for (Row r : cut) {
            assertEquals("length", r.getAs("finish_reason"));
            assertNotNull(r.getAs("completion"));
            assertTrue(r.<String>getAs("error").startsWith("the generation stopped at 6 tokens (max tokens)"), r.<String>getAs("error"));
            assertNull(r.getAs("parsed"), "a cut row's struct is null");
        }
    }
}
