/*
 * A stand-in for Windows' bcryptprimitives.dll, for running the Windows
 * build of memalloc's tests under wine where the prefix lacks it.
 *
 * Rust's std (since 1.78) imports ProcessPrng from bcryptprimitives.dll to
 * seed its hash maps; Debian's wine 8.0 ships no such DLL, so every Rust
 * program fails at load. ProcessPrng has the same contract as
 * advapi32's RtlGenRandom (exported as SystemFunction036): fill a buffer
 * with random bytes, return TRUE. This DLL forwards one to the other.
 *
 * Built and installed by ci/wine/setup.sh.
 */
#include <windows.h>

BOOLEAN WINAPI SystemFunction036(PVOID buffer, ULONG length);

__declspec(dllexport) BOOL WINAPI ProcessPrng(PBYTE data, SIZE_T len)
{
    /* RtlGenRandom takes a ULONG length: feed it in chunks. */
    while (len > 0) {
        ULONG chunk = len > 0x10000000 ? 0x10000000 : (ULONG)len;
        if (!SystemFunction036(data, chunk))
            return FALSE;
        data += chunk;
        len -= chunk;
    }
    return TRUE;
}
