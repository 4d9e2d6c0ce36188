package config

import "strconv"

// Bool reads a true/false variable (1, t, true, 0, f, false, any case); unset is false.
func (e Env) Bool(p *Problems, name string) bool {
	v := e(name)
	if v == "" {
		return false
	}
	b, err := strconv.ParseBool(v)
	if err != nil {
		p.Add("%s %q: want true or false", name, v)
	}
	return b
}
