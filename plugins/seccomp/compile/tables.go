package compile

import (
	specs "github.com/opencontainers/runtime-spec/specs-go"
	libseccomp "github.com/seccomp/libseccomp-golang"
	"golang.org/x/sys/unix"
)

// Limits the kernel and libseccomp impose on a filter.
const (
	// MaxInstructions is the kernel's BPF_MAXINSNS: seccomp(2) refuses a
	// longer program with EINVAL, so we refuse it first with a message.
	MaxInstructions = 4096
	// MaxArgs is the number of syscall arguments seccomp_data carries.
	MaxArgs = 6
	// maxErrno is one below the kernel's MAX_ERRNO (4095), which caps
	// SECCOMP_RET_ERRNO data; libseccomp refuses MAX_ERRNO itself.
	maxErrno = 4094
	// maxTraceData is what SECCOMP_RET_DATA can carry to a tracer.
	maxTraceData = 0xffff
	// maxSunPath is the longest path a sockaddr_un holds with its NUL.
	maxSunPath = 107
	// maxMetadata bounds listenerMetadata, which the init forwards with the
	// notify fd: every length the host hands the init is bounded.
	maxMetadata = 64 << 10
	// maxNames bounds the total number of syscall names. A realistic
	// profile names a few hundred; each known name costs at least one
	// instruction per architecture, so far fewer than this fit in
	// MaxInstructions anyway, and the bound keeps a hostile profile from
	// making libseccomp churn.
	maxNames = 16384
)

// actionInfo describes one spec action.
type actionInfo struct {
	scmp libseccomp.ScmpAction
	// ret is the kernel's SECCOMP_RET_* value, for SECCOMP_GET_ACTION_AVAIL.
	ret uint32
	// takesErrno says whether errnoRet means something for the action, and
	// up to which value.
	errnoMax uint
	// permissive actions let the syscall run; the ENOSYS stub is not
	// generated behind a permissive default (runc: Allow, Log, Trace, since a
	// tracer can handle unknown syscalls itself).
	permissive bool
}

var actions = map[specs.LinuxSeccompAction]actionInfo{
	// runc maps the legacy SCMP_ACT_KILL to kill-thread, as libseccomp does.
	specs.ActKill:        {scmp: libseccomp.ActKillThread, ret: unix.SECCOMP_RET_KILL_THREAD},
	specs.ActKillThread:  {scmp: libseccomp.ActKillThread, ret: unix.SECCOMP_RET_KILL_THREAD},
	specs.ActKillProcess: {scmp: libseccomp.ActKillProcess, ret: unix.SECCOMP_RET_KILL_PROCESS},
	specs.ActTrap:        {scmp: libseccomp.ActTrap, ret: unix.SECCOMP_RET_TRAP},
	specs.ActErrno:       {scmp: libseccomp.ActErrno, ret: unix.SECCOMP_RET_ERRNO, errnoMax: maxErrno},
	specs.ActTrace:       {scmp: libseccomp.ActTrace, ret: unix.SECCOMP_RET_TRACE, errnoMax: maxTraceData, permissive: true},
	specs.ActAllow:       {scmp: libseccomp.ActAllow, ret: unix.SECCOMP_RET_ALLOW, permissive: true},
	specs.ActLog:         {scmp: libseccomp.ActLog, ret: unix.SECCOMP_RET_LOG, permissive: true},
	specs.ActNotify:      {scmp: libseccomp.ActNotify, ret: unix.SECCOMP_RET_USER_NOTIF},
}

// actionOrder is the order features and messages list actions in.
var actionOrder = []specs.LinuxSeccompAction{
	specs.ActAllow, specs.ActErrno, specs.ActKill, specs.ActKillProcess, specs.ActKillThread,
	specs.ActLog, specs.ActNotify, specs.ActTrace, specs.ActTrap,
}

var operators = map[specs.LinuxSeccompOperator]libseccomp.ScmpCompareOp{
	specs.OpNotEqual:     libseccomp.CompareNotEqual,
	specs.OpLessThan:     libseccomp.CompareLess,
	specs.OpLessEqual:    libseccomp.CompareLessOrEqual,
	specs.OpEqualTo:      libseccomp.CompareEqual,
	specs.OpGreaterEqual: libseccomp.CompareGreaterEqual,
	specs.OpGreaterThan:  libseccomp.CompareGreater,
	specs.OpMaskedEqual:  libseccomp.CompareMaskedEqual,
}

var operatorOrder = []specs.LinuxSeccompOperator{
	specs.OpEqualTo, specs.OpGreaterEqual, specs.OpGreaterThan, specs.OpLessEqual,
	specs.OpLessThan, specs.OpMaskedEqual, specs.OpNotEqual,
}

// archInfo maps a spec architecture to libseccomp's token and to the
// AUDIT_ARCH_* value the kernel puts in seccomp_data.arch (which the ENOSYS
// stub tests; SCMP_ARCH_X32 shares x86_64's and is told apart by bit 30 of
// the syscall number).
type archInfo struct {
	scmp  libseccomp.ScmpArch
	audit uint32
}

var arches = map[specs.Arch]archInfo{
	specs.ArchX86:         {libseccomp.ArchX86, unix.AUDIT_ARCH_I386},
	specs.ArchX86_64:      {libseccomp.ArchAMD64, unix.AUDIT_ARCH_X86_64},
	specs.ArchX32:         {libseccomp.ArchX32, unix.AUDIT_ARCH_X86_64},
	specs.ArchARM:         {libseccomp.ArchARM, unix.AUDIT_ARCH_ARM},
	specs.ArchAARCH64:     {libseccomp.ArchARM64, unix.AUDIT_ARCH_AARCH64},
	specs.ArchMIPS:        {libseccomp.ArchMIPS, unix.AUDIT_ARCH_MIPS},
	specs.ArchMIPS64:      {libseccomp.ArchMIPS64, unix.AUDIT_ARCH_MIPS64},
	specs.ArchMIPS64N32:   {libseccomp.ArchMIPS64N32, unix.AUDIT_ARCH_MIPS64N32},
	specs.ArchMIPSEL:      {libseccomp.ArchMIPSEL, unix.AUDIT_ARCH_MIPSEL},
	specs.ArchMIPSEL64:    {libseccomp.ArchMIPSEL64, unix.AUDIT_ARCH_MIPSEL64},
	specs.ArchMIPSEL64N32: {libseccomp.ArchMIPSEL64N32, unix.AUDIT_ARCH_MIPSEL64N32},
	specs.ArchPPC:         {libseccomp.ArchPPC, unix.AUDIT_ARCH_PPC},
	specs.ArchPPC64:       {libseccomp.ArchPPC64, unix.AUDIT_ARCH_PPC64},
	specs.ArchPPC64LE:     {libseccomp.ArchPPC64LE, unix.AUDIT_ARCH_PPC64LE},
	specs.ArchS390:        {libseccomp.ArchS390, unix.AUDIT_ARCH_S390},
	specs.ArchS390X:       {libseccomp.ArchS390X, unix.AUDIT_ARCH_S390X},
	specs.ArchPARISC:      {libseccomp.ArchPARISC, unix.AUDIT_ARCH_PARISC},
	specs.ArchPARISC64:    {libseccomp.ArchPARISC64, unix.AUDIT_ARCH_PARISC64},
	specs.ArchRISCV64:     {libseccomp.ArchRISCV64, unix.AUDIT_ARCH_RISCV64},
	specs.ArchLOONGARCH64: {libseccomp.ArchLOONGARCH64, unix.AUDIT_ARCH_LOONGARCH64},
	specs.ArchM68K:        {libseccomp.ArchM68K, unix.AUDIT_ARCH_M68K},
	specs.ArchSH:          {libseccomp.ArchSH, unix.AUDIT_ARCH_SHEL},
	specs.ArchSHEB:        {libseccomp.ArchSHEB, unix.AUDIT_ARCH_SH},
}

var archOrder = []specs.Arch{
	specs.ArchX86, specs.ArchX86_64, specs.ArchX32, specs.ArchARM, specs.ArchAARCH64,
	specs.ArchMIPS, specs.ArchMIPS64, specs.ArchMIPS64N32, specs.ArchMIPSEL, specs.ArchMIPSEL64,
	specs.ArchMIPSEL64N32, specs.ArchPPC, specs.ArchPPC64, specs.ArchPPC64LE, specs.ArchS390,
	specs.ArchS390X, specs.ArchPARISC, specs.ArchPARISC64, specs.ArchRISCV64,
	specs.ArchLOONGARCH64, specs.ArchM68K, specs.ArchSH, specs.ArchSHEB,
}

// specArch names libseccomp's architecture the way the spec does.
func specArch(a libseccomp.ScmpArch) (specs.Arch, bool) {
	for _, name := range archOrder {
		if arches[name].scmp == a {
			return name, true
		}
	}
	return "", false
}

// Filter flags, as the spec names them, with their SECCOMP_FILTER_FLAG_* bit.
// TSYNC is accepted and never set: the init installs the filter on the one
// thread that execs, and TSYNC cannot be combined with NEW_LISTENER.
const flagTSYNC specs.LinuxSeccompFlag = "SECCOMP_FILTER_FLAG_TSYNC"

var flags = map[specs.LinuxSeccompFlag]uint32{
	flagTSYNC:                              unix.SECCOMP_FILTER_FLAG_TSYNC,
	specs.LinuxSeccompFlagLog:              unix.SECCOMP_FILTER_FLAG_LOG,
	specs.LinuxSeccompFlagSpecAllow:        unix.SECCOMP_FILTER_FLAG_SPEC_ALLOW,
	specs.LinuxSeccompFlagWaitKillableRecv: unix.SECCOMP_FILTER_FLAG_WAIT_KILLABLE_RECV,
}

var flagOrder = []specs.LinuxSeccompFlag{
	flagTSYNC, specs.LinuxSeccompFlagSpecAllow, specs.LinuxSeccompFlagLog,
	specs.LinuxSeccompFlagWaitKillableRecv,
}
