package taskrouter

import (
	"encoding/json"
	"fmt"
	"strings"
)

// routingConfig is a workflow's Configuration, parsed and with its expressions compiled.
type routingConfig struct {
	filters       []routingFilter
	defaultFilter *routingTarget
}

type routingFilter struct {
	name       string
	expression string
	match      expr
	targets    []routingTarget
}

type routingTarget struct {
	queue      string
	expression string
	match      expr // worker side
	priority   *int
	timeout    *int
	skipIf     expr // worker side, with workers.available
}

type rawTarget struct {
	Queue      string `json:"queue"`
	Expression string `json:"expression"`
	Priority   *int   `json:"priority"`
	Timeout    *int   `json:"timeout"`
	SkipIf     string `json:"skip_if"`
}

type rawConfig struct {
	TaskRouting *struct {
		Filters []struct {
			FriendlyName string      `json:"filter_friendly_name"`
			Expression   string      `json:"expression"`
			Targets      []rawTarget `json:"targets"`
		} `json:"filters"`
		DefaultFilter *rawTarget `json:"default_filter"`
	} `json:"task_routing"`
}

// parseRoutingConfig parses a workflow Configuration. queueExists tells whether a queue SID
// belongs to the workflow's workspace: Twilio refuses a configuration naming an unknown queue.
func parseRoutingConfig(src string, queueExists func(string) bool) (*routingConfig, error) {
	var raw rawConfig
	dec := json.NewDecoder(strings.NewReader(src))
	if err := dec.Decode(&raw); err != nil {
		return nil, fmt.Errorf("configuration is not valid JSON: %w", err)
	}
	if raw.TaskRouting == nil {
		return nil, fmt.Errorf("configuration has no task_routing")
	}
	cfg := &routingConfig{}
	for i, f := range raw.TaskRouting.Filters {
		match, err := parseExpr(f.Expression)
		if err != nil {
			return nil, fmt.Errorf("filter %d: %w", i, err)
		}
		rf := routingFilter{name: f.FriendlyName, expression: f.Expression, match: match}
		for j, t := range f.Targets {
			rt, err := parseTarget(t, queueExists)
			if err != nil {
				return nil, fmt.Errorf("filter %d target %d: %w", i, j, err)
			}
			rf.targets = append(rf.targets, rt)
		}
		cfg.filters = append(cfg.filters, rf)
	}
	if d := raw.TaskRouting.DefaultFilter; d != nil {
		rt, err := parseTarget(*d, queueExists)
		if err != nil {
			return nil, fmt.Errorf("default_filter: %w", err)
		}
		cfg.defaultFilter = &rt
	}
	return cfg, nil
}

func parseTarget(t rawTarget, queueExists func(string) bool) (routingTarget, error) {
	if t.Queue == "" {
		return routingTarget{}, fmt.Errorf("target has no queue")
	}
	if !queueExists(t.Queue) {
		return routingTarget{}, fmt.Errorf("queue %s does not exist in this workspace", t.Queue)
	}
	match, err := parseExpr(t.Expression)
	if err != nil {
		return routingTarget{}, err
	}
	rt := routingTarget{queue: t.Queue, expression: t.Expression, match: match, priority: t.Priority, timeout: t.Timeout}
	if t.SkipIf != "" {
		if rt.skipIf, err = parseExpr(t.SkipIf); err != nil {
			return routingTarget{}, fmt.Errorf("skip_if: %w", err)
		}
	}
	if t.Timeout != nil && *t.Timeout < 0 {
		return routingTarget{}, fmt.Errorf("target timeout %d is negative", *t.Timeout)
	}
	return rt, nil
}

// targets returns the targets of filter i (-1: the default filter).
func (c *routingConfig) targets(i int) []routingTarget {
	if i < 0 {
		if c.defaultFilter == nil {
			return nil
		}
		return []routingTarget{*c.defaultFilter}
	}
	if i >= len(c.filters) {
		// The workflow was updated under a task routed by an older configuration.
		return nil
	}
	return c.filters[i].targets
}

// filterName is what events call filter i.
func (c *routingConfig) filterName(i int) string {
	if i < 0 {
		return "Default Filter"
	}
	if i >= len(c.filters) {
		return ""
	}
	return c.filters[i].name
}
