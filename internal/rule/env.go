package rule

import (
	"fmt"

	"github.com/google/cel-go/cel"
)

// Env is the CEL environment every rule compiles against, declared once.
type Env struct {
	cel *cel.Env
}

// NewEnv declares the variables rules may use. `event` is the envelope as a
// map: id, type, source, time (timestamp), cluster, node, subject, drill
// (bool) and data (the event's typed payload as a map).
func NewEnv() (*Env, error) {
	e, err := cel.NewEnv(
		cel.Variable("event", cel.MapType(cel.StringType, cel.DynType)),
	)
	if err != nil {
		return nil, fmt.Errorf("cel env: %w", err)
	}
	return &Env{cel: e}, nil
}

// program compiles expr and, when want is set, checks its output type.
func (e *Env) program(expr string, want *cel.Type) (cel.Program, error) {
	ast, iss := e.cel.Compile(expr)
	if iss.Err() != nil {
		return nil, iss.Err()
	}
	if want != nil && !ast.OutputType().IsExactType(want) && !ast.OutputType().IsExactType(cel.DynType) {
		return nil, fmt.Errorf("must be %s, is %s", want, ast.OutputType())
	}
	prg, err := e.cel.Program(ast, cel.EvalOptions(cel.OptOptimize))
	if err != nil {
		return nil, err
	}
	return prg, nil
}
