using System.Diagnostics.Metrics;

namespace WorkerPool.Tests.Support;

/// <summary>A listener of one instrument of the WorkerPool meter, for the measurements of one pool.</summary>
internal static class InstrumentListener
{
    /// <summary>
    /// Starts listening to <paramref name="instrumentName"/>, and calls <paramref name="onMeasurement"/> with each of
    /// its measurements tagged with <paramref name="poolName"/>, on the thread that records it. Dispose the listener.
    /// </summary>
    public static MeterListener Start<T>(string instrumentName, string poolName, Action<T> onMeasurement)
        where T : struct
    {
        var listener = new MeterListener
        {
            InstrumentPublished = (instrument, l) =>
            {
                if (instrument.Meter.Name == "WorkerPool" && instrument.Name == instrumentName)
                {
                    l.EnableMeasurementEvents(instrument);
                }
            },

            // On .NET 8, Dispose leaves a listener subscribed to its instruments unless MeasurementsCompleted is set.
            MeasurementsCompleted = static (_, _) => { },
        };
        listener.SetMeasurementEventCallback<T>((_, value, tags, _) =>
        {
            foreach (KeyValuePair<string, object?> tag in tags)
            {
                if (tag.Key == "workerpool.name" && Equals(tag.Value, poolName))
                {
                    onMeasurement(value);
                }
            }
        });
        listener.Start();
        return listener;
    }
}
