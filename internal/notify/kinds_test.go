package notify

// Notices tell a person what a kind of sink is and how to fetch from it as the sink types
// register it (sinkname.About, in each type's file of internal/sink): the tests use the real
// registrations. Only tests import the sink package; notify itself never does.
import _ "github.com/keycycle/keycycle/internal/sink"
