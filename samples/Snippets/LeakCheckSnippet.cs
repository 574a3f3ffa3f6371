#region LeakCheck
using WorkerPool.Testing;
#endregion

namespace Snippets;

internal static class LeakCheckSnippet
{
    internal static async Task RunAsync()
    {
        #region LeakCheck
        await WorkerPoolLeakCheck.VerifyNoneAsync();            // every pool in the process
        await WorkerPoolLeakCheck.VerifyNoneAsync("orders");    // only pools named "orders": safe when tests run in parallel
        #endregion
    }
}
