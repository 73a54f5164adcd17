package rotation

import "github.com/keycycle/keycycle/internal/sinkname"

// Kinded is the optional capability of a sink to say what kind of sink it is (Secrets Manager,
// SSM, a webhook, ...), whatever its configured name: a SinkResult carries it, so that a notice
// tells the owner how to fetch a new credential from the place it was delivered to.
type Kinded interface {
	Kind() sinkname.Kind
}

// kindOf is s's kind; "" when it does not say.
func kindOf(s Sink) sinkname.Kind {
	if k, ok := s.(Kinded); ok {
		return k.Kind()
	}
	return ""
}
