package caller

import (
	"bytes"
	"encoding/binary"
	"math"
	"sync"
	"time"
)

// The bridge's own hold music: a soft, slow chime synthesised once at start and served as a WAV
// file, so a caller hears that the line is alive without any account, licence or third-party
// URL (Twilio's sample music lives on buckets the project does not control). Twilio's <Play>
// takes WAV (8-bit PCM mono is among its supported formats); 8 kHz matches the phone network,
// so nothing is lost, and 10 s of it is 80 kB.

// HoldMusicLength is how long the built-in hold music lasts.
const HoldMusicLength = 10 * time.Second

const holdMusicRate = 8000

var (
	holdMusicOnce sync.Once
	holdMusicWAV  []byte
)

// HoldMusic returns the built-in hold music as a WAV file (8 kHz, 8-bit unsigned PCM, mono).
func HoldMusic() []byte {
	holdMusicOnce.Do(func() { holdMusicWAV = synthHoldMusic() })
	return holdMusicWAV
}

func synthHoldMusic() []byte {
	n := int(HoldMusicLength.Seconds() * holdMusicRate)
	samples := make([]byte, n)
	// An arpeggio of a major chord over two octaves, one note every 1.25 s, each a sine with a
	// slow decay, mixed quietly: hold music should not be louder than the announcements.
	notes := []float64{261.63, 329.63, 392.00, 523.25, 392.00, 329.63, 261.63, 196.00}
	step := n / len(notes)
	for i := range samples {
		var v float64
		for k, f := range notes {
			start := k * step
			if i < start {
				continue
			}
			t := float64(i-start) / holdMusicRate
			v += math.Sin(2*math.Pi*f*t) * math.Exp(-t*1.6)
		}
		samples[i] = byte(128 + 40*math.Tanh(v))
	}
	var b bytes.Buffer
	w := func(v any) { _ = binary.Write(&b, binary.LittleEndian, v) }
	b.WriteString("RIFF")
	w(uint32(36 + n))
	b.WriteString("WAVEfmt ")
	w(uint32(16))
	w(uint16(1)) // PCM
	w(uint16(1)) // mono
	w(uint32(holdMusicRate))
	w(uint32(holdMusicRate)) // bytes per second
	w(uint16(1))             // block align
	w(uint16(8))             // bits per sample
	b.WriteString("data")
	w(uint32(n))
	b.Write(samples)
	return b.Bytes()
}
