package router

import (
	"net/http/pprof"
)

// mountPprof serves the Go profiler on the ops port (/debug/pprof/) when
// Options.Pprof asks: CPU, heap, goroutine, mutex and block profiles and
// execution traces of the running router. Off by default: a profile costs
// CPU while it runs, and the ops port may be reachable by more than the
// operators.
func (r *Router) mountPprof() {
	if !r.opts.Pprof {
		return
	}
	mux := r.ops.Mux
	mux.HandleFunc("/debug/pprof/", pprof.Index)
	mux.HandleFunc("/debug/pprof/cmdline", pprof.Cmdline)
	mux.HandleFunc("/debug/pprof/profile", pprof.Profile)
	mux.HandleFunc("/debug/pprof/symbol", pprof.Symbol)
	mux.HandleFunc("/debug/pprof/trace", pprof.Trace)
	r.log.Warn("serving /debug/pprof on the ops port", "addr", r.opts.HTTPAddr)
}
