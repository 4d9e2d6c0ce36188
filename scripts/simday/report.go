package main

import (
	"encoding/json"
	"fmt"
	"html"
	"io"
	"math"
	"os"
	"path/filepath"
	"strings"
)

// Report is a simday run: the day's parameters and a result per strategy.
type Report struct {
	Seed    uint64    `json:"seed"`
	Callers int       `json:"callers"`
	Agents  int       `json:"agents"`
	AMD     amdErrors `json:"amd_errors"`
	// Day describes the model (docs/SIMDAY.md has the sources).
	Day     map[string]string `json:"day"`
	Results []Result          `json:"results"`
}

func newReport(o options, d *day) Report {
	profilesUsed := map[string]int{}
	for _, a := range d.Agents {
		profilesUsed[a.Profile.Name]++
	}
	var prof []string
	for _, p := range []string{"steady", "slow", "voicemail", "misses", "breaks"} {
		if n := profilesUsed[p]; n > 0 {
			prof = append(prof, fmt.Sprintf("%d %s", n, p))
		}
	}
	return Report{Seed: o.seed, Callers: o.callers, Agents: o.agents, AMD: o.amd, Day: map[string]string{
		"hours":        fmt.Sprintf("%s to %s", dayStart.Format("15:04"), dayStart.Add(dayLength).Format("15:04")),
		"arrivals":     fmt.Sprintf("non-homogeneous Poisson, peaks at %s and %s", dayStart.Add(morningPeak).Format("15:04"), dayStart.Add(afternoonPeak).Format("15:04")),
		"patience":     "exponential, mean " + patienceMean.String(),
		"talk":         fmt.Sprintf("lognormal, median %s, sigma %.1f", talkMedian, talkSigma),
		"agents":       strings.Join(prof, ", "),
		"ring_timeout": commonEnv["RING_TIMEOUT"] + " s",
	}}
}

// writeReport writes results.json, results.md and time-to-human.svg into dir.
func writeReport(dir string, rep Report) error {
	data, err := json.MarshalIndent(rep, "", "  ")
	if err != nil {
		return err
	}
	if err := os.WriteFile(filepath.Join(dir, "results.json"), append(data, '\n'), 0o644); err != nil {
		return err
	}
	var md strings.Builder
	if err := writeMarkdown(&md, rep); err != nil {
		return err
	}
	if err := os.WriteFile(filepath.Join(dir, "results.md"), []byte(md.String()), 0o644); err != nil {
		return err
	}
	return os.WriteFile(filepath.Join(dir, "time-to-human.svg"), []byte(chart(rep)), 0o644)
}

// writeMarkdown writes the table of results.
func writeMarkdown(w io.Writer, rep Report) error {
	var b strings.Builder
	fmt.Fprintf(&b, "Seed %d: %d callers, %d agents (%s), %s; AMD errors: person taken for a machine %.0f%%, voicemail taken for a person %.0f%%.\n\n",
		rep.Seed, rep.Callers, rep.Agents, rep.Day["agents"], rep.Day["hours"], 100*rep.AMD.HumanAsMachine, 100*rep.AMD.MachineAsHuman)
	b.WriteString("| strategy | bridged to a person | reached an agent's voicemail (via AMD error) | left a voicemail | voicemail, no message | abandoned | time to a human: mean | p90 | a person within 30 s | agent minutes on legs never connected | legs placed | AMD accuracy |\n")
	b.WriteString("| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |\n")
	for _, r := range rep.Results {
		if !r.Available {
			fmt.Fprintf(&b, "| %s | %s | | | | | | | | | | |\n", r.Strategy, r.Missing)
			continue
		}
		acc := "—"
		if r.AMDJudged > 0 {
			acc = fmt.Sprintf("%.1f%% of %d", 100*r.AMDAccuracy, r.AMDJudged)
		}
		fmt.Fprintf(&b, "| %s | %d | %d (%d) | %d | %d | %d | %.1f s | %.1f s | %.1f%% | %.1f | %d | %s |\n",
			r.Strategy, r.Bridged, r.ReachedAgentVoicemail, r.ViaAMDError, r.LeftVoicemail, r.VoicemailNoMessage,
			r.Abandoned, r.TimeToHumanMean, r.TimeToHumanP90, 100*float64(r.Within30s)/float64(max(r.Callers, 1)),
			r.AgentMinutesNotConnected, r.LegsPlaced, acc)
	}
	for _, r := range rep.Results {
		if r.Available && (r.Other > 0 || len(r.Problems) > 0) {
			fmt.Fprintf(&b, "\n%s: %d callers ended otherwise: %s\n", r.Strategy, r.Other, strings.Join(r.Problems, "; "))
		}
	}
	var walls []string
	for _, r := range rep.Results {
		if r.Available && r.Wall > 0 {
			walls = append(walls, fmt.Sprintf("%s %.1f s", r.Key, r.Wall.Seconds()))
		}
	}
	if len(walls) > 0 {
		fmt.Fprintf(&b, "\nWall-clock time of the runs (not part of the results): %s.\n", strings.Join(walls, ", "))
	}
	_, err := io.WriteString(w, b.String())
	return err
}

// chart draws time to a human by strategy as an SVG: for each strategy that ran, a whisker from
// the 10th to the 90th percentile, a box from the 25th to the 75th, the median as a bar and
// the mean as a dot; strategies that did not run say why.
func chart(rep Report) string {
	const (
		left, right, top, rowH, width = 290.0, 40.0, 60.0, 44.0, 900.0
	)
	height := top + rowH*float64(len(rep.Results)) + 50
	maxT := 60.0
	for _, r := range rep.Results {
		if n := len(r.TimesToHuman); n > 0 {
			maxT = math.Max(maxT, percentile(r.TimesToHuman, 0.9))
		}
	}
	step := niceStep(maxT)
	maxT = math.Ceil(maxT/step) * step
	x := func(t float64) float64 { return left + (width-left-right)*t/maxT }
	var b strings.Builder
	fmt.Fprintf(&b, `<svg xmlns="http://www.w3.org/2000/svg" width="%.0f" height="%.0f" viewBox="0 0 %.0f %.0f" font-family="sans-serif" font-size="13">`+"\n", width, height, width, height)
	fmt.Fprintf(&b, `<rect width="100%%" height="100%%" fill="white"/>`+"\n")
	fmt.Fprintf(&b, `<text x="%.0f" y="24" font-size="16" font-weight="bold">Time from entering the queue to a person on the line (simulated seconds)</text>`+"\n", 10.0)
	fmt.Fprintf(&b, `<text x="%.0f" y="44" fill="#555">seed %d, %d callers, %d agents; whiskers 10th–90th percentile, box 25th–75th, bar median, dot mean</text>`+"\n", 10.0, rep.Seed, rep.Callers, rep.Agents)
	axisY := top + rowH*float64(len(rep.Results))
	for t := 0.0; t <= maxT+1e-9; t += step {
		fmt.Fprintf(&b, `<line x1="%.1f" y1="%.0f" x2="%.1f" y2="%.0f" stroke="#ddd"/>`+"\n", x(t), top-6, x(t), axisY)
		fmt.Fprintf(&b, `<text x="%.1f" y="%.0f" text-anchor="middle" fill="#555">%g</text>`+"\n", x(t), axisY+18, t)
	}
	for i, r := range rep.Results {
		y := top + rowH*float64(i) + rowH/2
		fmt.Fprintf(&b, `<text x="%.0f" y="%.1f" text-anchor="end" dominant-baseline="middle">%s</text>`+"\n", left-12, y, html.EscapeString(r.Strategy))
		if !r.Available || len(r.TimesToHuman) == 0 {
			why := r.Missing
			if why == "" {
				why = "no caller reached a person"
			}
			fmt.Fprintf(&b, `<text x="%.0f" y="%.1f" dominant-baseline="middle" fill="#999" font-style="italic">%s</text>`+"\n", left+6, y, html.EscapeString(why))
			continue
		}
		ts := r.TimesToHuman
		p10, p25, p50, p75, p90 := percentile(ts, 0.1), percentile(ts, 0.25), percentile(ts, 0.5), percentile(ts, 0.75), percentile(ts, 0.9)
		fmt.Fprintf(&b, `<line x1="%.1f" y1="%.1f" x2="%.1f" y2="%.1f" stroke="#333"/>`+"\n", x(p10), y, x(p90), y)
		fmt.Fprintf(&b, `<rect x="%.1f" y="%.1f" width="%.1f" height="%.1f" fill="#9ecae1" stroke="#333"/>`+"\n", x(p25), y-11, math.Max(x(p75)-x(p25), 1), 22.0)
		fmt.Fprintf(&b, `<line x1="%.1f" y1="%.1f" x2="%.1f" y2="%.1f" stroke="#08306b" stroke-width="3"/>`+"\n", x(p50), y-11, x(p50), y+11)
		fmt.Fprintf(&b, `<circle cx="%.1f" cy="%.1f" r="5" fill="#d62728"/>`+"\n", x(r.TimeToHumanMean), y)
		fmt.Fprintf(&b, `<text x="%.1f" y="%.1f" dominant-baseline="middle" fill="#333">mean %.0f s, p90 %.0f s</text>`+"\n", math.Min(x(p90)+8, width-right-120), y-16, r.TimeToHumanMean, r.TimeToHumanP90)
	}
	b.WriteString("</svg>\n")
	return b.String()
}

// niceStep is a round grid step giving about six lines up to maxT.
func niceStep(maxT float64) float64 {
	raw := maxT / 6
	mag := math.Pow(10, math.Floor(math.Log10(raw)))
	for _, m := range []float64{1, 2, 5, 10} {
		if raw <= m*mag {
			return m * mag
		}
	}
	return 10 * mag
}
