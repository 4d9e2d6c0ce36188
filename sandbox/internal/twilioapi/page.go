package twilioapi

import (
	"fmt"
	"net/http"
	"net/url"
	"strconv"
)

// Page cuts items to the page the request asks for (PageSize, Page; Twilio's defaults 50 and 0)
// and returns the page together with Twilio's paging metadata. The v1/v2 APIs (TaskRouter,
// Studio) nest it under "meta"; the 2010 API puts it at the top level, see Page2010.
func Page[T any](r *http.Request, items []T) ([]T, PageMeta, error) {
	size, page, err := pageParams(r.URL.Query())
	if err != nil {
		return nil, PageMeta{}, err
	}
	from := min(page*size, len(items))
	to := min(from+size, len(items))
	meta := PageMeta{Page: page, PageSize: size, Key: "", URL: pageURL(r, size, page)}
	meta.FirstPageURL = pageURL(r, size, 0)
	if to < len(items) {
		next := pageURL(r, size, page+1)
		meta.NextPageURL = &next
	}
	if page > 0 {
		prev := pageURL(r, size, page-1)
		meta.PreviousPageURL = &prev
	}
	return items[from:to], meta, nil
}

// PageMeta is Twilio's v1/v2 list "meta" object.
type PageMeta struct {
	Page            int     `json:"page"`
	PageSize        int     `json:"page_size"`
	FirstPageURL    string  `json:"first_page_url"`
	PreviousPageURL *string `json:"previous_page_url"`
	URL             string  `json:"url"`
	NextPageURL     *string `json:"next_page_url"`
	Key             string  `json:"key"`
}

// V1List renders a v1/v2 list response: {"<key>": items, "meta": {...}}.
func V1List[T any](w http.ResponseWriter, r *http.Request, key string, items []T) {
	pageItems, meta, err := Page(r, items)
	if err != nil {
		WriteError(w, err)
		return
	}
	meta.Key = key
	if pageItems == nil {
		pageItems = []T{}
	}
	WriteJSON(w, http.StatusOK, map[string]any{key: pageItems, "meta": meta})
}

// List2010 renders a 2010-04-01 list response: the items under key and the paging fields at
// the top level, with relative URIs as that API has them.
func List2010[T any](w http.ResponseWriter, r *http.Request, key string, items []T) {
	pageItems, meta, err := Page(r, items)
	if err != nil {
		WriteError(w, err)
		return
	}
	if pageItems == nil {
		pageItems = []T{}
	}
	var next, prev *string
	if meta.NextPageURL != nil {
		n := pageURI(r, meta.PageSize, meta.Page+1)
		next = &n
	}
	if meta.PreviousPageURL != nil {
		p := pageURI(r, meta.PageSize, meta.Page-1)
		prev = &p
	}
	WriteJSON(w, http.StatusOK, map[string]any{
		key:                 pageItems,
		"page":              meta.Page,
		"page_size":         meta.PageSize,
		"start":             meta.Page * meta.PageSize,
		"end":               meta.Page*meta.PageSize + len(pageItems) - 1,
		"uri":               pageURI(r, meta.PageSize, meta.Page),
		"first_page_uri":    pageURI(r, meta.PageSize, 0),
		"next_page_uri":     next,
		"previous_page_uri": prev,
	})
}

func pageParams(q url.Values) (size, page int, err error) {
	size, page = 50, 0
	if v := q.Get("PageSize"); v != "" {
		if size, err = strconv.Atoi(v); err != nil || size < 1 || size > 1000 {
			return 0, 0, InvalidParam("PageSize", v)
		}
	}
	if v := q.Get("Page"); v != "" {
		if page, err = strconv.Atoi(v); err != nil || page < 0 {
			return 0, 0, InvalidParam("Page", v)
		}
	}
	return size, page, nil
}

func pageURI(r *http.Request, size, page int) string {
	q := r.URL.Query()
	q.Set("PageSize", strconv.Itoa(size))
	q.Set("Page", strconv.Itoa(page))
	return r.URL.Path + "?" + q.Encode()
}

func pageURL(r *http.Request, size, page int) string {
	scheme := "http"
	if r.TLS != nil {
		scheme = "https"
	}
	return fmt.Sprintf("%s://%s%s", scheme, r.Host, pageURI(r, size, page))
}
