package dev.panamax;

import java.util.Locale;

/** The two compute backends: the C core or pure Java (the model code never knows which runs). */
public enum Backend {
    /** The C core through FFM downcalls, with the best ISA of this CPU. */
    NATIVE,
    /** Pure Java: the Vector API, or scalar code where the Vector API is not available. */
    JAVA;

    public String id() {
        return name().toLowerCase(Locale.ROOT);
    }

    public static Backend parse(String s) {
        for (Backend b : values()) if (b.id().equals(s.toLowerCase(Locale.ROOT))) return b;
        throw new IllegalArgumentException("unknown backend '" + s + "' (expected native or java)");
    }
}
