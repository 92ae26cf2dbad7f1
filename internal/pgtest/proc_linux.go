package pgtest

import "syscall"

// procAttr runs a server process as cred (nil: as this process), and has
// the kernel stop it if this process dies without stopping it.
func procAttr(cred *syscall.Credential) *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Credential: cred, Pdeathsig: syscall.SIGQUIT, Setpgid: true}
}
