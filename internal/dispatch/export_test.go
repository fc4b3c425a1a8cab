package dispatch

// Decoded counts the alert records the view holds decoded.
func (v *StateView) Decoded() int {
	v.mu.RLock()
	defer v.mu.RUnlock()
	return len(v.alerts)
}
