//! The yardstick the JavaScript runtime is measured against: a bare
//! QuickJS loop that folds the same events with the same handlers, per
//! stream, with nothing around it (no sandbox clock, no budget, no
//! rollback, no runner, no store). The bench reports the runtime's rate
//! as a fraction of this loop's, in the same run.

use hindsight_store::RecordedEvent;
use rquickjs::{Array, Context, Function, Runtime};

const LOOP: &str = r#"
(handlers, types, streams, datas, positions, parse) => {
  const states = new Map();
  const init = handlers.$init ?? (() => ({}));
  const events = [];
  for (let i = 0; i < types.length; i++) {
    events.push({ type: types[i], stream: streams[i], position: positions[i],
                  data: parse ? datas[i] : JSON.parse(datas[i]) });
  }
  const started = Date.now();
  for (let i = 0; i < events.length; i++) {
    const e = parse ? { ...events[i], data: JSON.parse(events[i].data) } : events[i];
    const h = handlers[e.type] ?? handlers.$any;
    if (h === undefined) continue;
    let s = states.get(e.stream);
    if (s === undefined) s = init();
    const next = h(s, e);
    states.set(e.stream, next === undefined ? s : next);
  }
  return [Date.now() - started, states.size];
}
"#;

/// What the bare loop measured.
#[derive(Debug, Clone, Copy)]
pub struct Bare {
    pub seconds: f64,
    pub partitions: usize,
}

/// Folds `events` per stream with `handlers` (the object literal a
/// definition passes to `.when`), timing only the loop. With `parse` the
/// loop parses each event's data itself (as the runtime must); without,
/// the data is parsed beforehand, untimed.
pub fn bare_fold(handlers: &str, events: &[RecordedEvent], parse: bool) -> Result<Bare, String> {
    let runtime = Runtime::new().map_err(|e| e.to_string())?;
    let context = Context::full(&runtime).map_err(|e| e.to_string())?;
    let result = context.with(|ctx| -> rquickjs::Result<(f64, usize)> {
        let handlers: rquickjs::Value = ctx.eval(format!("({handlers})"))?;
        let f: Function = ctx.eval(LOOP)?;
        let (types, streams, datas, positions) =
            (Array::new(ctx.clone())?, Array::new(ctx.clone())?, Array::new(ctx.clone())?, Array::new(ctx.clone())?);
        for (i, e) in events.iter().enumerate() {
            types.set(i, e.event_type.as_str())?;
            streams.set(i, e.stream.as_str())?;
            datas.set(i, e.data.as_str())?;
            positions.set(i, e.position as f64)?;
        }
        let out: Vec<f64> = f.call((handlers, types, streams, datas, positions, parse))?;
        Ok((out[0], out[1] as usize))
    });
    let (millis, partitions) = result.map_err(|e| format!("the bare loop failed: {e}"))?;
    Ok(Bare { seconds: millis / 1000.0, partitions })
}
