//! Screen areas, computed from the terminal size and the view alone, so drawing and
//! mouse hit-testing agree without the renderer writing anything back.

use ratatui::layout::Rect;

use super::detail::Tab;
use super::state::View;

/// Where each part of the screen is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Areas {
    /// View tabs and status (top line).
    pub header: Rect,
    /// Everything between header and footer.
    pub body: Rect,
    /// The exchange table (view 1).
    pub table: Rect,
    /// The detail pane (view 1, when open); its first line holds the tabs.
    pub detail: Rect,
    /// The key map or the filter prompt (bottom line).
    pub footer: Rect,
    /// The paused exchanges of the intercept (above the footer, when there are any).
    pub paused: Rect,
}

impl Areas {
    /// Splits `size`.
    pub(crate) fn new(size: Rect, view: View, detail: bool) -> Self {
        let h = size.height;
        let header = Rect::new(size.x, size.y, size.width, h.min(1));
        let footer_h = u16::from(h >= 2);
        let footer = Rect::new(size.x, size.y + h.saturating_sub(1), size.width, footer_h);
        let body = Rect::new(
            size.x,
            size.y + 1,
            size.width,
            h.saturating_sub(1 + footer_h),
        );
        let (table, detail_area) = if view == View::Exchanges && detail {
            let th = (body.height * 2 / 5).max(3).min(body.height);
            (
                Rect::new(body.x, body.y, body.width, th),
                Rect::new(body.x, body.y + th, body.width, body.height - th),
            )
        } else {
            (body, Rect::new(body.x, body.y + body.height, body.width, 0))
        };
        Self {
            header,
            body,
            table,
            detail: detail_area,
            footer,
            paused: Rect::new(body.x, body.y + body.height, body.width, 0),
        }
    }

    /// Gives the bottom of the body to a list of `n` paused exchanges (at most 6 rows
    /// and a title line, and never more than half the body).
    pub(crate) fn with_paused(mut self, n: usize) -> Self {
        if n == 0 {
            return self;
        }
        let h = (n.min(6) as u16 + 1).min(self.body.height / 2);
        if h == 0 {
            return self;
        }
        let y = self.body.y + self.body.height - h;
        self.paused = Rect::new(self.body.x, y, self.body.width, h);
        self.body.height -= h;
        for r in [&mut self.table, &mut self.detail] {
            let bottom = (r.y + r.height).min(y);
            r.y = r.y.min(y);
            r.height = bottom - r.y;
        }
        self
    }

    /// The view whose title is at column `x` of the header.
    pub(crate) fn view_at(&self, x: u16) -> Option<View> {
        title_at(View::ALL, View::title, 1, x)
    }

    /// The detail tab whose title is at column `x` of the detail's first line.
    pub(crate) fn tab_at(detail: Rect, x: u16) -> Option<Tab> {
        title_at(Tab::ALL, Tab::title, detail.x + 1, x)
    }
}

/// Which of `items`, whose titles stand in a row from column `from` (each padded by one
/// space on either side, one column apart), is at column `x`.
fn title_at<T: Copy>(
    items: impl IntoIterator<Item = T>,
    title: impl Fn(T) -> &'static str,
    from: u16,
    x: u16,
) -> Option<T> {
    let mut at = from;
    for i in items {
        let w = title(i).len() as u16 + 2;
        if x >= at && x < at + w {
            return Some(i);
        }
        at += w + 1;
    }
    None
}
