package route

// Destination is a route and the receiver it sends an alert to: one
// aggregation group's timing and receiver.
type Destination struct {
	Route    *Route
	Receiver string
}

// Destinations says where an alert with labels goes: the receivers of the
// routes the tree matches, then the rule's own receivers (timed by the
// first route), each once; a drill only to receivers that take drills, and
// a drill nobody takes to the console. Receivers the routing file does not
// define are returned apart, for the caller to report. The dispatcher
// delivers, and the Alertmanager API reports, by this one answer.
func (r *Routing) Destinations(labels map[string]string, ruleReceivers []string, drill bool) (dests []Destination, unknown []string) {
	routes := r.Root.Match(labels)
	add := func(d Destination) {
		rc := r.Receiver(d.Receiver)
		switch {
		case rc == nil:
			unknown = append(unknown, d.Receiver)
		case drill && !rc.TakesDrills():
		default:
			for _, x := range dests {
				if x == d {
					return
				}
			}
			dests = append(dests, d)
		}
	}
	for _, rt := range routes {
		add(Destination{rt, rt.Receiver})
	}
	for _, name := range ruleReceivers {
		add(Destination{routes[0], name})
	}
	if len(dests) == 0 {
		dests = append(dests, Destination{routes[0], "console"})
	}
	return dests, unknown
}
