package dev.panamax.cli;

import dev.panamax.kernels.Isa;
import picocli.CommandLine.ITypeConverter;

/** {@code --isa}: pins the native kernel set for the process, e.g. to compare avx2 and avx512 on one CPU. */
final class IsaConverter implements ITypeConverter<Isa> {
    static final String DESCRIPTION = "Native kernel set: avx512, avx2, scalar, neon, neon_dotprod "
            + "(default: the best this CPU runs).";

    @Override
    public Isa convert(String value) {
        return Isa.parse(value);
    }
}
