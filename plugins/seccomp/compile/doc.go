// Package compile turns a runtime-spec linux.seccomp object into a classic
// BPF program with libseccomp, the way runc does, so that the container init
// only has to hand the bytes to seccomp(2) (see package install, which links
// no libseccomp).
//
// What it adds to libseccomp's output, as runc does:
//
//   - an ENOSYS stub in front of the program: on every architecture in the
//     filter, a syscall number above the highest one the profile names gets
//     ENOSYS instead of the default action, so that libc falls back from a
//     syscall the profile's author did not know about (clone3 → clone,
//     faccessat2 → faccessat, ...) instead of failing with EPERM;
//   - an explicit clone3 → ENOSYS rule when the default action is not
//     permissive and the profile does not name clone3, because clone3 is below
//     the highest syscall of most current profiles (docker's profile carries
//     the same rule).
//
// The compiler runs in the seccomp plugin only; it never loads a filter into
// its own process.
package compile
