package dev.panamax.grammar;

import static org.junit.jupiter.api.Assertions.*;

import com.fasterxml.jackson.databind.JsonNode;
import java.lang.annotation.ElementType;
import java.lang.annotation.Retention;
import java.lang.annotation.RetentionPolicy;
import java.lang.annotation.Target;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import org.junit.jupiter.api.Test;

/** Java types as JSON Schema and back: the schema's shape, values read back, and types refused by component. */
class TypeSchemaTest {
    // Bean Validation look-alikes: TypeSchema reads annotations by simple name, from any package
    @Retention(RetentionPolicy.RUNTIME) @Target({ElementType.FIELD, ElementType.METHOD, ElementType.PARAMETER, ElementType.TYPE_USE, ElementType.RECORD_COMPONENT})
    @interface Size { int min() default 0; int max() default Integer.MAX_VALUE; }
    @Retention(RetentionPolicy.RUNTIME) @Target({ElementType.FIELD, ElementType.METHOD, ElementType.PARAMETER, ElementType.TYPE_USE})
    @interface Min { long value(); }
    @Retention(RetentionPolicy.RUNTIME) @Target({ElementType.FIELD, ElementType.METHOD, ElementType.PARAMETER, ElementType.TYPE_USE})
    @interface Max { long value(); }

    enum Color { RED, GREEN }
    record Address(@Size(max = 12) String city, @Min(1) @Max(99999) int zip) {}
    record Person(String name, @Min(0) @Max(150) int age, Color favourite, List<@Size(max = 5) String> tags,
                  Optional<Address> address, @Size(min = 1, max = 3) List<Address> others, double score, boolean active,
                  Map<String, Integer> counts) {}
    sealed interface Shape permits Circle, Square {}
    record Circle(double radius) implements Shape {}
    record Square(int side) implements Shape {}
    record Drawing(List<Shape> shapes) {}
    record Node(String label, List<Node> children) {}
    record WithDate(String title, java.time.LocalDate when) {}
    record WithObject(Object anything) {}

    @Test
    void recordSchemaHasComponentsInOrderWithBounds() {
        JsonNode s = TypeSchema.of(Person.class).schema();
        assertEquals("object", s.get("type").asText());
        assertFalse(s.get("additionalProperties").asBoolean());
        assertEquals(List.of("name", "age", "favourite", "tags", "address", "others", "score", "active", "counts"),
                iterable(s.get("properties").fieldNames()));
        assertFalse(iterable(s.get("required").elements()).stream().anyMatch(n -> n.asText().equals("address")), "Optional is not required");
        assertEquals(8, s.get("required").size());
        JsonNode p = s.get("properties");
        assertEquals(0, p.get("age").get("minimum").asInt());
        assertEquals(150, p.get("age").get("maximum").asInt());
        assertEquals("[\"RED\",\"GREEN\"]", p.get("favourite").get("enum").toString());
        assertEquals(5, p.get("tags").get("items").get("maxLength").asInt());
        assertEquals(12, p.get("address").get("properties").get("city").get("maxLength").asInt());
        assertEquals(1, p.get("others").get("minItems").asInt());
        assertEquals(3, p.get("others").get("maxItems").asInt());
        assertEquals("integer", p.get("counts").get("additionalProperties").get("type").asText());
        assertNotNull(TypeSchema.of(Person.class).grammar(), "the schema compiles to a grammar");
    }

    @Test
    void valuesAreReadBack() {
        var t = TypeSchema.of(Person.class);
        Person p = t.parse("""
                {"name": "Ada", "age": 36, "favourite": "GREEN", "tags": ["x", "y"], "others": [{"city": "Paris", "zip": 75001}],
                 "score": 1.5, "active": true, "counts": {"a": 1}}""");
        assertEquals(new Person("Ada", 36, Color.GREEN, List.of("x", "y"), Optional.empty(), List.of(new Address("Paris", 75001)),
                1.5, true, Map.of("a", 1)), p);
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> t.parse("{\"name\": 3}"));
        assertTrue(e.getMessage().contains("Person.name"), e.getMessage());
    }

    @Test
    void sealedInterfacesAreTaggedByRecordName() {
        var t = TypeSchema.of(Drawing.class);
        JsonNode alts = t.schema().get("properties").get("shapes").get("items").get("anyOf");
        assertEquals(2, alts.size());
        assertEquals("Circle", alts.get(0).get("properties").get("type").get("const").asText());
        Drawing d = t.parse("{\"shapes\": [{\"type\": \"Square\", \"side\": 2}, {\"type\": \"Circle\", \"radius\": 0.5}]}");
        assertEquals(new Drawing(List.of(new Square(2), new Circle(0.5))), d);
        t.grammar();
    }

    @Test
    void inexpressibleTypesNameTheirComponent() {
        assertTrue(assertThrows(IllegalArgumentException.class, () -> TypeSchema.of(WithDate.class)).getMessage().startsWith("WithDate.when (java.time.LocalDate)"));
        assertTrue(assertThrows(IllegalArgumentException.class, () -> TypeSchema.of(WithObject.class)).getMessage().startsWith("WithObject.anything"));
        String m = assertThrows(IllegalArgumentException.class, () -> TypeSchema.of(Node.class)).getMessage();
        assertTrue(m.startsWith("Node.children[]") && m.contains("recursive"), m);
        assertThrows(IllegalArgumentException.class, () -> TypeSchema.of(String.class));
    }

    private static <E> List<E> iterable(java.util.Iterator<E> it) {
        List<E> out = new java.util.ArrayList<>();
        it.forEachRemaining(out::add);
        return out;
    }
}
