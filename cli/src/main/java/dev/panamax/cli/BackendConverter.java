package dev.panamax.cli;

import dev.panamax.Backend;
import picocli.CommandLine.ITypeConverter;

final class BackendConverter implements ITypeConverter<Backend> {
    @Override
    public Backend convert(String value) {
        return Backend.parse(value);
    }
}
