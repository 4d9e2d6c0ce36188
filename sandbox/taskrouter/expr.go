package taskrouter

import (
	"fmt"
	"math"
	"strconv"
	"strings"
	"unicode"
)

// This file is TaskRouter's expression language, the subset real workflows and queues use:
// comparisons (== = != <> > < >= <=), HAS, IN, NOT IN, CONTAINS, NOT CONTAINS, AND/OR (also &&
// and ||), parentheses, string/number/bool/array literals and attribute paths: dot notation for
// sub-properties and square brackets for array indices ("object.array[2]"), as Twilio's
// "Using TaskRouter Expressions" documents; a key that is not in the document resolves to NULL
// (an index past the end included). "Hyphens are not supported in TaskRouter expressions": a
// hyphenated key is refused when the expression is parsed. On the worker side, worker.sid,
// worker.friendly_name, worker.activity_sid and worker.activity_name name the worker's own
// fields ("Activity Based Routing"; the Workers list's TargetWorkersExpression).
//
// Semantics chosen where Twilio's documentation is silent: an operand that names a missing
// attribute makes its comparison false, whatever the operator (!= and NOT IN included), so a
// worker without a "skills" attribute never matches an expression about skills. Strings compare
// case-sensitively. AND binds tighter than OR.

// expr is a parsed expression.
type expr interface {
	eval(env *exprEnv) bool
}

// exprEnv is what attribute paths resolve against. On the task side (workflow filters) a plain
// path names a task attribute; on the worker side (queue TargetWorkers, target expressions) a
// plain path names a worker attribute, "task." a task attribute and "worker." a worker one.
type exprEnv struct {
	workerSide bool
	task       map[string]any
	worker     map[string]any
	// fields are the worker's own fields (sid, friendly_name, activity_sid, activity_name):
	// "worker.activity_name" names them before any attribute of that name; a plain
	// "activity_name" names them only when the worker has no such attribute (docs silent).
	fields map[string]any
	// extra holds names that are not attributes, such as skip_if's "workers.available".
	extra map[string]any
}

func (env *exprEnv) resolve(path string) (any, bool) {
	if v, ok := env.extra[path]; ok {
		return v, true
	}
	parts := strings.Split(path, ".")
	var root map[string]any
	switch {
	case env.workerSide && parts[0] == "task" && len(parts) > 1:
		root, parts = env.task, parts[1:]
	case env.workerSide && parts[0] == "worker" && len(parts) > 1:
		if v, ok := env.fields[parts[1]]; ok && len(parts) == 2 {
			return v, v != nil
		}
		root, parts = env.worker, parts[1:]
	case env.workerSide:
		if v, ok := env.fields[parts[0]]; ok && len(parts) == 1 && !hasKey(env.worker, parts[0]) {
			return v, v != nil
		}
		root = env.worker
	case parts[0] == "task" && len(parts) > 1 && !hasKey(env.task, "task"):
		root, parts = env.task, parts[1:]
	default:
		root = env.task
	}
	return walk(root, parts)
}

// walk follows path segments ("name" or "name[i][j]") from root; a missing key, an index past
// the end or a step into something that is not an object or an array resolves to nothing.
func walk(root map[string]any, parts []string) (any, bool) {
	var cur any = root
	for _, p := range parts {
		name, indices := splitSegment(p)
		m, ok := cur.(map[string]any)
		if !ok {
			return nil, false
		}
		if cur, ok = m[name]; !ok {
			return nil, false
		}
		for _, i := range indices {
			arr, ok := cur.([]any)
			if !ok || i >= len(arr) {
				return nil, false
			}
			cur = arr[i]
		}
	}
	return cur, cur != nil
}

// splitSegment splits "name[1][2]" into "name" and [1 2]. The lexer only lets digits between
// the brackets.
func splitSegment(seg string) (string, []int) {
	open := strings.IndexByte(seg, '[')
	if open < 0 {
		return seg, nil
	}
	var indices []int
	for _, part := range strings.Split(seg[open+1:], "[") {
		n, err := strconv.Atoi(strings.TrimSuffix(part, "]"))
		if err != nil {
			// Unreachable through the lexer; an impossible index matches nothing.
			n = math.MaxInt
		}
		indices = append(indices, n)
	}
	return seg[:open], indices
}

func hasKey(m map[string]any, k string) bool {
	_, ok := m[k]
	return ok
}

// parseExpr parses a TaskRouter expression. An empty expression is "1==1", as Twilio treats an
// omitted TargetWorkers or target expression.
func parseExpr(src string) (expr, error) {
	if strings.TrimSpace(src) == "" {
		return constExpr(true), nil
	}
	toks, err := lex(src)
	if err != nil {
		return nil, err
	}
	p := &parser{toks: toks, src: src}
	e, err := p.parseOr()
	if err != nil {
		return nil, err
	}
	if p.peek().kind != tkEOF {
		return nil, fmt.Errorf("expression %q: unexpected %q at offset %d", src, p.peek().text, p.peek().pos)
	}
	return e, nil
}

type tokKind int

const (
	tkEOF tokKind = iota
	tkIdent
	tkString
	tkNumber
	tkOp     // == = != <> > < >= <=
	tkLParen // (
	tkRParen // )
	tkLBrack // [
	tkRBrack // ]
	tkComma
	tkAnd // AND &&
	tkOr  // OR ||
	tkKeyword
)

type token struct {
	kind tokKind
	text string // for keywords: upper case
	pos  int
}

var keywords = map[string]bool{"HAS": true, "IN": true, "NOT": true, "CONTAINS": true, "TRUE": true, "FALSE": true, "NULL": true}

var punctuation = map[rune]tokKind{'(': tkLParen, ')': tkRParen, '[': tkLBrack, ']': tkRBrack, ',': tkComma}

// wordToken tells a keyword (case-insensitive) from an attribute path.
func wordToken(word string, pos int) token {
	switch up := strings.ToUpper(word); {
	case up == "AND":
		return token{tkAnd, up, pos}
	case up == "OR":
		return token{tkOr, up, pos}
	case keywords[up]:
		return token{tkKeyword, up, pos}
	}
	return token{tkIdent, word, pos}
}

func lex(src string) ([]token, error) {
	var toks []token
	rs := []rune(src)
	for i := 0; i < len(rs); {
		c := rs[i]
		switch {
		case unicode.IsSpace(c):
			i++
		case punctuation[c] != 0:
			toks = append(toks, token{punctuation[c], string(c), i})
			i++
		case c == '&' || c == '|':
			if i+1 >= len(rs) || rs[i+1] != c {
				return nil, fmt.Errorf("expression %q: unexpected %q at offset %d", src, string(c), i)
			}
			if c == '&' {
				toks = append(toks, token{tkAnd, "AND", i})
			} else {
				toks = append(toks, token{tkOr, "OR", i})
			}
			i += 2
		case c == '=' || c == '!' || c == '<' || c == '>':
			op := string(c)
			if i+1 < len(rs) && (rs[i+1] == '=' || (c == '<' && rs[i+1] == '>')) {
				op += string(rs[i+1])
			}
			if op == "!" {
				return nil, fmt.Errorf("expression %q: unexpected \"!\" at offset %d", src, i)
			}
			toks = append(toks, token{tkOp, op, i})
			i += len(op)
		case c == '"' || c == '\'':
			j := i + 1
			var b strings.Builder
			for j < len(rs) && rs[j] != c {
				if rs[j] == '\\' && j+1 < len(rs) {
					j++
				}
				b.WriteRune(rs[j])
				j++
			}
			if j >= len(rs) {
				return nil, fmt.Errorf("expression %q: unterminated string at offset %d", src, i)
			}
			toks = append(toks, token{tkString, b.String(), i})
			i = j + 1
		case unicode.IsDigit(c) || (c == '-' && i+1 < len(rs) && unicode.IsDigit(rs[i+1])):
			j := i + 1
			for j < len(rs) && (unicode.IsDigit(rs[j]) || rs[j] == '.') {
				j++
			}
			toks = append(toks, token{tkNumber, string(rs[i:j]), i})
			i = j
		case unicode.IsLetter(c) || c == '_' || c == '$':
			tok, j, err := lexWord(src, rs, i)
			if err != nil {
				return nil, err
			}
			toks = append(toks, tok)
			i = j
		default:
			return nil, fmt.Errorf("expression %q: unexpected %q at offset %d", src, string(c), i)
		}
	}
	return append(toks, token{tkEOF, "end of expression", len(rs)}), nil
}

func isKeyRune(r rune) bool {
	return unicode.IsLetter(r) || unicode.IsDigit(r) || r == '_' || r == '.' || r == '$'
}

// lexWord reads a keyword or an attribute path starting at i: key characters, dots, and array
// indices written "[digits]" right after a key. A hyphen inside a key is refused: "Hyphens are
// not supported in TaskRouter expressions".
func lexWord(src string, rs []rune, i int) (token, int, error) {
	j := i + 1
	for j < len(rs) && isKeyRune(rs[j]) {
		j++
	}
	if tok := wordToken(string(rs[i:j]), i); tok.kind != tkIdent {
		return tok, j, nil
	}
	for j < len(rs) {
		switch {
		case isKeyRune(rs[j]):
			j++
		case rs[j] == '[' && closingIndex(rs, j) > 0:
			j = closingIndex(rs, j) + 1
		case rs[j] == '-' && j+1 < len(rs) && isKeyRune(rs[j+1]):
			k := j + 1
			for k < len(rs) && (isKeyRune(rs[k]) || rs[k] == '-') {
				k++
			}
			return token{}, 0, fmt.Errorf("expression %q: key %q at offset %d: hyphens are not supported in TaskRouter expressions", src, string(rs[i:k]), i)
		default:
			return token{tkIdent, string(rs[i:j]), i}, j, nil
		}
	}
	return token{tkIdent, string(rs[i:j]), i}, j, nil
}

// closingIndex is the offset of the "]" closing an index "[digits]" opened at open, or -1.
func closingIndex(rs []rune, open int) int {
	k := open + 1
	for k < len(rs) && unicode.IsDigit(rs[k]) {
		k++
	}
	if k == open+1 || k >= len(rs) || rs[k] != ']' {
		return -1
	}
	return k
}

type parser struct {
	toks []token
	i    int
	src  string
}

func (p *parser) peek() token { return p.toks[p.i] }
func (p *parser) next() token {
	t := p.toks[p.i]
	if t.kind != tkEOF {
		p.i++
	}
	return t
}

func (p *parser) errorf(t token, what string) error {
	return fmt.Errorf("expression %q: expected %s, got %q at offset %d", p.src, what, t.text, t.pos)
}

func (p *parser) parseOr() (expr, error) {
	left, err := p.parseAnd()
	if err != nil {
		return nil, err
	}
	for p.peek().kind == tkOr {
		p.next()
		right, err := p.parseAnd()
		if err != nil {
			return nil, err
		}
		left = orExpr{left, right}
	}
	return left, nil
}

func (p *parser) parseAnd() (expr, error) {
	left, err := p.parsePrimary()
	if err != nil {
		return nil, err
	}
	for p.peek().kind == tkAnd {
		p.next()
		right, err := p.parsePrimary()
		if err != nil {
			return nil, err
		}
		left = andExpr{left, right}
	}
	return left, nil
}

func (p *parser) parsePrimary() (expr, error) {
	if p.peek().kind == tkLParen {
		p.next()
		e, err := p.parseOr()
		if err != nil {
			return nil, err
		}
		if t := p.next(); t.kind != tkRParen {
			return nil, p.errorf(t, `")"`)
		}
		return e, nil
	}
	left, err := p.parseOperand()
	if err != nil {
		return nil, err
	}
	op, err := p.parseOperator()
	if err != nil {
		return nil, err
	}
	right, err := p.parseOperand()
	if err != nil {
		return nil, err
	}
	return cmpExpr{op: op, left: left, right: right}, nil
}

func (p *parser) parseOperator() (string, error) {
	t := p.next()
	switch {
	case t.kind == tkOp:
		switch t.text {
		case "=":
			return "==", nil
		case "<>":
			return "!=", nil
		}
		return t.text, nil
	case t.kind == tkKeyword && (t.text == "HAS" || t.text == "IN" || t.text == "CONTAINS"):
		return t.text, nil
	case t.kind == tkKeyword && t.text == "NOT":
		n := p.next()
		if n.kind == tkKeyword && (n.text == "IN" || n.text == "CONTAINS" || n.text == "HAS") {
			return "NOT " + n.text, nil
		}
		return "", p.errorf(n, "IN, HAS or CONTAINS after NOT")
	}
	return "", p.errorf(t, "an operator (==, !=, >, <, >=, <=, HAS, IN, NOT IN, CONTAINS)")
}

func (p *parser) parseOperand() (operand, error) {
	t := p.next()
	switch t.kind {
	case tkString:
		return literal{t.text}, nil
	case tkNumber:
		f, err := strconv.ParseFloat(t.text, 64)
		if err != nil {
			return nil, p.errorf(t, "a number")
		}
		return literal{f}, nil
	case tkIdent:
		return path(t.text), nil
	case tkKeyword:
		switch t.text {
		case "TRUE":
			return literal{true}, nil
		case "FALSE":
			return literal{false}, nil
		case "NULL":
			return literal{nil}, nil
		}
	case tkLBrack:
		var items []any
		if p.peek().kind == tkRBrack {
			p.next()
			return literal{items}, nil
		}
		for {
			item, err := p.parseOperand()
			if err != nil {
				return nil, err
			}
			lit, ok := item.(literal)
			if !ok {
				return nil, p.errorf(t, "literals inside an array")
			}
			items = append(items, lit.v)
			sep := p.next()
			if sep.kind == tkRBrack {
				return literal{items}, nil
			}
			if sep.kind != tkComma {
				return nil, p.errorf(sep, `"," or "]"`)
			}
		}
	}
	return nil, p.errorf(t, "a value or an attribute")
}

type operand interface {
	value(env *exprEnv) (any, bool)
}

type literal struct{ v any }

func (l literal) value(*exprEnv) (any, bool) { return l.v, true }

type path string

func (p path) value(env *exprEnv) (any, bool) { return env.resolve(string(p)) }

type constExpr bool

func (c constExpr) eval(*exprEnv) bool { return bool(c) }

type andExpr struct{ l, r expr }

func (a andExpr) eval(env *exprEnv) bool { return a.l.eval(env) && a.r.eval(env) }

type orExpr struct{ l, r expr }

func (o orExpr) eval(env *exprEnv) bool { return o.l.eval(env) || o.r.eval(env) }

type cmpExpr struct {
	op          string
	left, right operand
}

func (c cmpExpr) eval(env *exprEnv) bool {
	l, lok := c.left.value(env)
	r, rok := c.right.value(env)
	if !lok || !rok {
		// A literal null compares equal to a missing attribute: "x == null".
		_, lnull := c.left.(literal)
		_, rnull := c.right.(literal)
		if (lnull && l == nil && !rok) || (rnull && r == nil && !lok) {
			return c.op == "=="
		}
		return false
	}
	switch c.op {
	case "==":
		return equal(l, r)
	case "!=":
		return !equal(l, r)
	case ">", "<", ">=", "<=":
		return ordered(c.op, l, r)
	case "HAS":
		return has(l, r)
	case "NOT HAS":
		return !has(l, r)
	case "IN":
		return in(l, r)
	case "NOT IN":
		return !in(l, r)
	case "CONTAINS":
		return contains(l, r)
	case "NOT CONTAINS":
		return !contains(l, r)
	}
	return false
}

func toNumber(v any) (float64, bool) {
	switch n := v.(type) {
	case float64:
		return n, true
	case int:
		return float64(n), true
	case int64:
		return float64(n), true
	case string:
		f, err := strconv.ParseFloat(n, 64)
		return f, err == nil && !math.IsNaN(f)
	}
	return 0, false
}

func equal(a, b any) bool {
	switch x := a.(type) {
	case string:
		if y, ok := b.(string); ok {
			return x == y
		}
		if y, ok := b.(float64); ok {
			f, ok := toNumber(x)
			return ok && f == y
		}
	case float64, int, int64:
		fx, _ := toNumber(x)
		fy, ok := toNumber(b)
		return ok && fx == fy
	case bool:
		y, ok := b.(bool)
		return ok && x == y
	case nil:
		return b == nil
	case []any:
		y, ok := b.([]any)
		if !ok || len(x) != len(y) {
			return false
		}
		for i := range x {
			if !equal(x[i], y[i]) {
				return false
			}
		}
		return true
	}
	return false
}

func ordered(op string, a, b any) bool {
	var cmp int
	fa, aok := toNumber(a)
	fb, bok := toNumber(b)
	sa, sok := a.(string)
	sb, tok := b.(string)
	switch {
	case aok && bok && !(sok && tok):
		cmp = compareFloat(fa, fb)
	case sok && tok:
		if aok && bok {
			cmp = compareFloat(fa, fb)
		} else {
			cmp = strings.Compare(sa, sb)
		}
	default:
		return false
	}
	switch op {
	case ">":
		return cmp > 0
	case "<":
		return cmp < 0
	case ">=":
		return cmp >= 0
	}
	return cmp <= 0
}

func compareFloat(a, b float64) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}

// has: the left operand is a list holding the right value (a scalar left operand is compared).
func has(list, v any) bool {
	items, ok := list.([]any)
	if !ok {
		return equal(list, v)
	}
	for _, it := range items {
		if equal(it, v) {
			return true
		}
	}
	return false
}

// in: the left value is one of the right list (a left list: any of its values is).
func in(v, list any) bool {
	if vs, ok := v.([]any); ok {
		for _, x := range vs {
			if has(list, x) {
				return true
			}
		}
		return false
	}
	return has(list, v)
}

// contains: the left string holds the right one as a substring; on a list, any element does.
func contains(s, sub any) bool {
	needle, ok := sub.(string)
	if !ok {
		return has(s, sub)
	}
	switch x := s.(type) {
	case string:
		return strings.Contains(x, needle)
	case []any:
		for _, it := range x {
			if str, ok := it.(string); ok && strings.Contains(str, needle) {
				return true
			}
		}
	}
	return false
}
